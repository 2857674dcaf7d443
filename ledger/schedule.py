"""Periodic work merged into the Celery beat schedule by portal.celery."""

BEAT = {
    "ledger-seal-block": {"task": "ledger.tasks.seal_block", "schedule": 5.0, "options": {"expires": 5.0}},
}
