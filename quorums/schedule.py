from __future__ import annotations

from django.conf import settings

BEAT = {
    "quorums-sweep": {
        "task": "quorums.tasks.sweep",
        "schedule": float(getattr(settings, "PORTAL_SWEEP_SECONDS", 30)),
    },
}

if getattr(settings, "PORTAL_DEMO_VALIDATORS", False):
    BEAT["quorums-demo-validators"] = {"task": "quorums.tasks.demo_validators_run", "schedule": 5.0}
