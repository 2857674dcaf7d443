"""Periodic work merged into the Celery beat schedule by portal.celery."""

BEAT = {
    "notifications-reminders": {
        "task": "notifications.tasks.reminders_send",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "notifications-webhooks-sweep": {
        "task": "notifications.tasks.webhooks_sweep",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "notifications-email-digest": {
        "task": "notifications.tasks.email_digest",
        "schedule": 900.0,
        "options": {"expires": 900.0},
    },
}
