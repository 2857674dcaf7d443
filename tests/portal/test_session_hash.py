"""portal.models.User remembers Django's session auth hash per (password field, secret): the same
hashes as Django's own, and a changed password or secret gives a new one (sessions end)."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser

from portal.models import User


def _djangos(user: User, secret: str | None = None) -> str:
    return AbstractBaseUser._get_session_auth_hash(user, secret=secret)  # type: ignore[arg-type]


def test_the_hash_is_djangos_for_the_key_and_its_fallbacks(settings) -> None:
    settings.SECRET_KEY_FALLBACKS = ["old-secret-" + "x" * 40, "older-secret-" + "y" * 40]
    user = User(address="0x" + "ab" * 20)
    user.set_unusable_password()
    for _ in range(2):  # computed, then remembered
        assert user.get_session_auth_hash() == _djangos(user)
        assert list(user.get_session_auth_fallback_hash()) == [_djangos(user, s) for s in settings.SECRET_KEY_FALLBACKS]


def test_a_new_password_or_secret_gives_a_new_hash(settings) -> None:
    user = User(address="0x" + "cd" * 20)
    user.set_unusable_password()
    before = user.get_session_auth_hash()
    user.set_unusable_password()  # a new random unusable value
    assert user.get_session_auth_hash() != before
    assert user.get_session_auth_hash() == _djangos(user)
    after_password = user.get_session_auth_hash()
    settings.SECRET_KEY = "another-secret-" + "z" * 40
    assert user.get_session_auth_hash() not in (before, after_password)
    assert user.get_session_auth_hash() == _djangos(user)
