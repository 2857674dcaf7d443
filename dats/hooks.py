"""The seams through which downstream apps answer questions dats cannot (dats imports no app to
its right). Downstream apps register in their AppConfig.ready(), nowhere else.

A challenge window provider answers, for a batch of DATs, when each one's challenge window ends
(`{dat id: datetime}`); DATs it leaves out are asked of the next provider, and DATs no provider
answers fall back to the quorum's appeal window counted from the mint. rewards registers the
"end of the reward epoch after the one the DAT was minted in"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import DAT

WindowProvider = Callable[[Sequence["DAT"]], dict[int, datetime]]

_CHALLENGE_WINDOW_PROVIDERS: list[WindowProvider] = []


def register_challenge_window(fn: WindowProvider) -> WindowProvider:
    if fn not in _CHALLENGE_WINDOW_PROVIDERS:
        _CHALLENGE_WINDOW_PROVIDERS.append(fn)
    return fn


def challenge_window_ends(dats: Sequence[DAT]) -> dict[int, datetime]:
    """DAT id -> the end of its challenge window (the dats must carry round.quorum)."""
    out: dict[int, datetime] = {}
    for fn in list(_CHALLENGE_WINDOW_PROVIDERS):
        missing = [d for d in dats if d.pk not in out]
        if not missing:
            break
        out.update({k: v for k, v in fn(missing).items() if k not in out})
    for d in dats:
        out.setdefault(d.pk, d.minted_at + d.round.quorum.appeal_window)
    return out
