from __future__ import annotations

import io

from portal import demo as portal_demo
from portal.celery import beat_schedule
from rewards import demo
from rewards.models import Payout, UsageEvent
from rewards.schedule import BEAT
from rewards.services.epochs import epoch_close

from .conftest import current_epoch


def test_the_close_task_is_on_the_beat_schedule():
    assert beat_schedule()["rewards-close-epochs"] == BEAT["rewards-close-epochs"]


def test_the_demo_loads_twice_reports_usage_and_pays_the_flywheel(db):
    portal_demo.load(io.StringIO())
    demo.load(io.StringIO())
    demo.load(io.StringIO())
    seeded = UsageEvent.objects.count()
    assert seeded == 3
    assert demo.pipeline_tick() >= 1
    epoch = current_epoch()
    closed = epoch_close(epoch_id=epoch.pk, now=epoch.ends_at)
    roles = set(Payout.objects.filter(epoch=closed).values_list("role", flat=True))
    assert roles == {"contributor", "validator", "treasury"}
