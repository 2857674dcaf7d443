"""Identity: users are Ethereum addresses. No passwords anywhere; sign-in is SIWE."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from eth_utils import to_checksum_address


def checksum(address: object) -> str:
    """EIP-55 form of an address; raises ValueError for anything that is not 20 hex bytes."""
    if not isinstance(address, str) or len(address) != 42 or not address.startswith(("0x", "0X")):
        raise ValueError("An Ethereum address is 0x followed by 40 hex digits.")
    return to_checksum_address(address)


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, address: str | None) -> User:
        return self.get(address=checksum(address))

    def create_user(self, address: str, **extra: object) -> User:
        user = self.model(address=checksum(address), **extra)
        user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, address: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(address, **extra)


_SESSION_AUTH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"


@lru_cache(maxsize=4096)
def _session_auth_hash(password: str, secret: str) -> str:
    """Django's session auth hash (AbstractBaseUser._get_session_auth_hash), a pure function of
    the password field and the secret."""
    return salted_hmac(_SESSION_AUTH_SALT, password, secret=secret, algorithm="sha256").hexdigest()


class User(AbstractBaseUser, PermissionsMixin):
    """A person or program known by an EIP-55 checksummed Ethereum address."""

    address = models.CharField(max_length=42, unique=True)
    display_name = models.CharField(max_length=80, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "address"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(address__regex=r"^0x[0-9a-fA-F]{40}$"), name="user_address_hex"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.short_address

    @property
    def short_address(self) -> str:
        return f"{self.address[:6]}…{self.address[-4:]}"

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's, remembered per (password field, secret): every signed-in request checks its
        # session's hash against it (django.contrib.auth.get_user), and the user comes from the
        # cache as a new instance each time, so the HMAC was computed anew per request (about 1%
        # of a vote's CPU). A changed password or secret is a different key: same answers.
        return _session_auth_hash(self.password, settings.SECRET_KEY if secret is None else secret)


class SiweNonce(models.Model):
    """A nonce we issued. Consumed by a conditional UPDATE, so one message logs in once."""

    value = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.value


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for scripts and AI pipelines. Only its SHA-256 is stored; the raw value is
    shown once. `subject` names what the token acts for: the user itself or, set by downstream
    apps, something the user stewards (e.g. `idao:open-health`)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    subject = models.CharField(max_length=120, blank=True)
    scopes = models.JSONField(default=list)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        raw = "idao_" + secrets.token_urlsafe(32)
        return raw, raw[:12], _token_hash(raw)

    @staticmethod
    def hash(raw: str) -> str:
        return _token_hash(raw)


class ParkedTask(models.Model):
    """A task that failed every retry. Admins see it, fix the cause and retry or dismiss it."""

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=200, unique=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    error = models.TextField()
    retries = models.PositiveIntegerField(default=0)
    parked_at = models.DateTimeField(auto_now_add=True)
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]
        # Created by quorums (migration 0001) before task parking moved down into portal.
        db_table = "quorums_parkedtask"

    def __str__(self) -> str:
        return f"{self.task_name} {self.task_id}"


class Event(models.Model):
    """The transactional outbox: something people care about happened. Written by a service in its
    own transaction (portal.events.emit); fanned out to recipients after commit by whatever
    registered a fan-out hook (the notifications app)."""

    kind = models.CharField(max_length=64)
    idao_id = models.BigIntegerField(null=True, blank=True)  # no FK: portal knows no iDAOs
    subject = models.CharField(max_length=200)  # "proposal:12", "dat:3", "round:7", ...
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payload = models.JSONField(default=dict)
    recipients = models.JSONField(null=True, blank=True)  # user ids; None = resolved by kind
    created_at = models.DateTimeField(default=timezone.now)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["idao_id", "-id"], name="portal_event_idao"),
            models.Index(fields=["subject", "-id"], name="portal_event_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}"
