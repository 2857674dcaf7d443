"""Periodic work merged into the Celery beat schedule by portal.celery."""

BEAT = {
    "idaos-advance-proposals": {
        "task": "idaos.tasks.advance_proposals",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    "idaos-recheck-pending-ballots": {
        "task": "idaos.tasks.recheck_pending_ballots",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
}
