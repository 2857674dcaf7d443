"""Rewards settings, each with a default (settings may override any of them)."""

from __future__ import annotations

from django.conf import settings

DEFAULT_KIND_WEIGHTS = {"inference": 1, "evaluation": 1, "fine_tuning": 5, "training": 10}
DEFAULT_FEES = {"inference": 1, "evaluation": 1, "fine_tuning": 5, "training": 10}


def demo_pipeline() -> bool:
    return bool(getattr(settings, "REWARDS_DEMO_PIPELINE", False))


def epoch_seconds() -> int:
    # The embedded demo closes an epoch every minute so earnings visibly grow.
    return int(getattr(settings, "REWARDS_EPOCH_SECONDS", 60 if demo_pipeline() else 3600))


def emission_laz() -> int:
    return int(getattr(settings, "REWARDS_EPOCH_EMISSION_LAZ", 1_000_000))


def kind_weights() -> dict[str, int]:
    return {**DEFAULT_KIND_WEIGHTS, **getattr(settings, "REWARDS_KIND_WEIGHTS", {})}


def fee_per_unit() -> dict[str, int]:
    """CREDIT (smallest unit) charged per reported unit, by kind."""
    return {**DEFAULT_FEES, **getattr(settings, "REWARDS_FEE_CREDIT_PER_UNIT", {})}


def model_dat_bps() -> int:
    return int(getattr(settings, "REWARDS_MODEL_DAT_BPS", 3000))


def max_units() -> int:
    return int(getattr(settings, "REWARDS_MAX_UNITS_PER_EVENT", 1_000_000_000))


def max_age_seconds() -> int:
    return int(getattr(settings, "REWARDS_MAX_EVENT_AGE_SECONDS", 7 * 24 * 3600))


def max_future_seconds() -> int:
    return int(getattr(settings, "REWARDS_MAX_FUTURE_SECONDS", 300))


def max_batch() -> int:
    return int(getattr(settings, "REWARDS_MAX_BATCH", 10_000))


def max_report_bytes() -> int:
    return int(getattr(settings, "REWARDS_MAX_REPORT_BYTES", 4 * 1024 * 1024))


# Attributed weights are weighted units times this scale, so shares of a unit stay integers.
WEIGHT_SCALE = 1000
