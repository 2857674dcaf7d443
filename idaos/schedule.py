"""Periodic work merged into the Celery beat schedule by portal.celery."""

BEAT = {
    "idaos-advance-proposals": {
        "task": "idaos.tasks.advance_proposals",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
}
