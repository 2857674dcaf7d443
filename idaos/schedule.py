"""Periodic work merged into the Celery beat schedule by portal.celery."""

from __future__ import annotations

from django.conf import settings

BEAT = {
    "idaos-advance-proposals": {
        "task": "idaos.tasks.advance_proposals",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    "idaos-execute-timelocked": {
        "task": "idaos.tasks.execute_timelocked_proposals",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    "idaos-recheck-pending-ballots": {
        "task": "idaos.tasks.recheck_pending_ballots",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
}

if getattr(settings, "PORTAL_DEMO_PROPOSALS", False):
    BEAT["idaos-demo-proposal"] = {"task": "idaos.tasks.demo_proposal_renew", "schedule": 30.0}
