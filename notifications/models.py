"""Who is told what, on which channel: deliveries (the in-app inbox is the "inapp" channel),
preferences, verified email addresses, webhooks and their delivery log."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.models import Event, User


class _Str:
    def __str__(self) -> str:
        return f"{type(self).__name__} {getattr(self, 'pk', None)}"


class Channel(models.TextChoices):
    INAPP = "inapp", "In-app"
    EMAIL = "email", "Email"


class Notification(_Str, models.Model):
    """One event for one person on one channel: at most one, whatever runs twice."""

    class Status(models.TextChoices):
        PENDING = "pending"  # email waiting to be sent instantly
        DIGEST = "digest"  # email waiting for the daily digest
        SENT = "sent"  # delivered (in-app rows are born sent)
        FAILED = "failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SENT)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "recipient", "channel"], name="notification_once_per_channel")
        ]
        indexes = [
            models.Index(fields=["recipient", "-id"], name="notif_inbox", condition=models.Q(channel="inapp")),
            models.Index(fields=["status"], name="notif_email_pending", condition=models.Q(channel="email")),
        ]


class Preference(_Str, models.Model):
    """A person's choice for one event kind on one channel (absent: the default)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    enabled = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind", "channel"], name="preference_once")]


class EmailAddress(_Str, models.Model):
    class Digest(models.TextChoices):
        INSTANT = "instant"
        DAILY = "daily"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="email_address")
    address = models.EmailField(max_length=254)
    verified_at = models.DateTimeField(null=True, blank=True)
    digest = models.CharField(max_length=8, choices=Digest.choices, default=Digest.INSTANT)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)  # one-click "unsubscribe from all"
    last_digest_at = models.DateTimeField(null=True, blank=True)


class Webhook(_Str, models.Model):
    """A JSON POST endpoint of a person (events they receive) or of an iDAO (its stewards)."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="webhooks")
    idao = models.ForeignKey("idaos.IDAO", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=100)
    kinds = models.JSONField(default=list, blank=True)  # empty: every kind
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["idao"], name="webhook_idao", condition=models.Q(active=True))]


class WebhookDelivery(_Str, models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERING = "delivering"
        RETRYING = "retrying"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # Database time of the latest claim: an attempt still `delivering` long after it was claimed
    # was interrupted (a worker crash) and is re-queued by services.webhooks_sweep.
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "webhook"], name="webhook_delivery_once")]
        indexes = [
            models.Index(
                fields=["claimed_at"], name="webhook_delivery_claimed", condition=models.Q(status="delivering")
            )
        ]


class WebhookAttempt(_Str, models.Model):
    """The delivery log: one row per HTTP attempt."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class Reminder(_Str, models.Model):
    """A reminder mark already emitted (a proposal closing in 24 h / 1 h, a round expiring)."""

    subject = models.CharField(max_length=200)
    mark = models.CharField(max_length=16)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject", "mark"], name="reminder_once")]
