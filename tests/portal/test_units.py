"""Amounts, shares, durations and times in human terms, defined once (portal.units)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.template import Context, Template

from portal import units


def test_amounts_carry_their_unit_thousands_separators_and_the_declared_decimals(monkeypatch):
    assert units.format_amount(1_234_567, "LAZ") == "1,234,567 LAZ"
    assert units.format_amount("-4000", "CREDIT") == "-4,000 CREDIT"
    monkeypatch.setitem(units.DECIMALS, "LAZ", 2)
    assert units.format_amount(1_234_567, "LAZ") == "12,345.67 LAZ"
    assert units.format_amount(1_234_500, "LAZ") == "12,345 LAZ"
    assert units.format_amount(5, "LAZ") == "0.05 LAZ"
    assert units.format_amount("not a number", "LAZ") == "not a number"


def test_basis_points_read_as_percentages_and_durations_as_words():
    assert (units.format_bps(6667), units.format_bps(2000), units.format_bps(5)) == ("66.7%", "20%", "0.05%")
    assert units.format_ratio(2, 3) == "66.7%" and units.format_ratio(0, 0) == "0%"
    assert units.format_duration(259_200) == "3 days"
    assert units.format_duration(timedelta(minutes=10)) == "10 minutes"
    assert units.format_duration(5400) == "1 hour 30 minutes" and units.format_duration(0) == "no time"


def test_the_filters_render_the_raw_integer_in_a_title_and_times_with_their_zone():
    html = Template('{% load units %}{{ n|amount:"LAZ" }} {{ b|percent }} {{ d|duration }} {{ t|when }}').render(
        Context({"n": 245000, "b": 5000, "d": 3600, "t": datetime(2026, 12, 6, 11, 5, tzinfo=UTC)})
    )
    assert '<span class="amount" title="245000 (smallest units)">245,000 LAZ</span>' in html
    assert "50% 1 hour" in html and '<time datetime="2026-12-06T11:05:00+00:00">2026-12-06 11:05 UTC</time>' in html
