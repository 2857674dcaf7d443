from __future__ import annotations

from django.conf import settings

BEAT = {
    "quorums-sweep": {
        "task": "quorums.tasks.sweep",
        "schedule": float(getattr(settings, "PORTAL_SWEEP_SECONDS", 30)),
    },
}
