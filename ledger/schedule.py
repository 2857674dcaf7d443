"""Periodic work merged into the Celery beat schedule by portal.celery."""

from django.conf import settings

BEAT = {
    "ledger-seal-block": {"task": "ledger.tasks.seal_block", "schedule": 5.0, "options": {"expires": 5.0}},
}
if getattr(settings, "LEDGER_ANCHOR_CHAIN_ID", 0):
    _every = float(settings.LEDGER_ANCHOR_POLL_SECONDS)
    BEAT["ledger-publish-onchain"] = {
        "task": "ledger.onchain_tasks.publish_onchain",
        "schedule": _every,
        "options": {"expires": _every},
    }
