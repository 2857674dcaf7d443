from __future__ import annotations

from django.conf import settings

BEAT = {
    "contributions-staging-sweep": {
        "task": "contributions.tasks.staging_sweep_task",
        "schedule": float(getattr(settings, "PORTAL_STAGING_SWEEP_SECONDS", 600)),
    },
}
