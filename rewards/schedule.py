from __future__ import annotations

from django.conf import settings

BEAT = {
    "rewards-close-epochs": {
        "task": "rewards.tasks.close_due_epochs",
        "schedule": float(getattr(settings, "REWARDS_CLOSE_CHECK_SECONDS", 10)),
    },
}
if getattr(settings, "REWARDS_DEMO_PIPELINE", False):
    BEAT["rewards-demo-pipeline"] = {
        "task": "rewards.tasks.demo_pipeline_tick",
        "schedule": float(getattr(settings, "REWARDS_DEMO_PIPELINE_SECONDS", 5)),
    }
