"""A signal with options in plain words (docs/governance.md "Signals with several options"): the
options with their totals, each instant-runoff round as a sentence, the outcome in one line, and
a ballot's options as the voter picked them. Pure: reads a tally (tally.compute_options)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portal.units import format_bps

METHOD_WORDS = {
    "single": "Single choice: each ballot picks one option; the option with the most votes wins.",
    "approval": "Approval: each ballot approves any number of options and counts fully for each; the most "
    "approved option wins.",
    "ranked": "Ranked choice (instant runoff): each ballot ranks options; round by round the option with the "
    "fewest votes is eliminated and its ballots move to their next choice, until one option has more than half.",
}


def _names(labels: Sequence[str], picked: Sequence[int]) -> str:
    return ", ".join(labels[o] if 0 <= o < len(labels) else f"#{o}" for o in picked)


def picked_in_words(method: str, labels: Sequence[str], picked: Sequence[int]) -> str:
    """What a ballot says, e.g. "ranked 1. Curie, 2. Ada" or "approved Ada, Curie"."""
    if method == "ranked":
        return "ranked " + ", ".join(f"{i + 1}. {labels[o]}" for i, o in enumerate(picked) if 0 <= o < len(labels))
    if method == "approval":
        return "approved " + _names(labels, picked)
    return "chose " + _names(labels, picked)


def option_rows(tally: dict[str, Any]) -> list[dict[str, Any]]:
    cast = int(tally["cast"])
    return [
        {
            "index": i,
            "label": label,
            "total": tally["totals"][i],
            "bps": int(tally["totals"][i]) * 10000 // cast if cast else 0,
            "winner": tally["winner"] == i,
        }
        for i, label in enumerate(tally["options"])
    ]


def rounds_in_words(tally: dict[str, Any]) -> list[str]:
    """One sentence per instant-runoff round."""
    labels = tally["options"]
    lines = []
    for n, step in enumerate(tally.get("rounds") or [], start=1):
        counts = ", ".join(f"{labels[o]} {c}" for o, c in enumerate(step["counts"]) if c is not None)
        continuing, exhausted = int(step["continuing"]), int(step["exhausted"])
        line = f"Round {n}: {counts}"
        if exhausted:
            line += f" ({exhausted} on ballots that rank no option still in the race, set aside)"
        line += f". More than half of {continuing} is {continuing // 2 + 1}: "
        if step["winner"] is not None:
            line += f"{labels[step['winner']]} has it and wins."
        elif step["eliminated"] is not None:
            line += (
                f"no option has it, so {labels[step['eliminated']]}, with the fewest, is eliminated and its "
                "ballots move to their next choice."
            )
        else:
            line += "no option has it and the last options are tied: no winner."
        lines.append(line)
    return lines


def result_in_words(tally: dict[str, Any], state: str) -> str:
    """A closed signal's outcome in one line."""
    turnout = f"{format_bps(tally['participation_bps'])} took part, {format_bps(tally['quorum_bps'])} needed"
    if tally["outcome"] == "quorum_not_met":
        return f"No decision: quorum not met ({turnout})."
    if tally["winner"] is None:
        return f"No decision: the leading options are tied ({turnout})."
    how = {"ranked": f"after {len(tally['rounds'])} round(s) of instant runoff", "approval": "by approval"}.get(
        tally["method"], "by the most votes"
    )
    return f"Decided: {tally['options'][tally['winner']]} won {how} ({turnout})."
