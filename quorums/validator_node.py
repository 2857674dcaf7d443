"""An in-process automated validator for demo data only: the demo beat task
(quorums.tasks.demo_validators_run) and bench/pipeline.py's in-process baseline. It reads the
database and storage directly and checks only hash, size and the portal's own upload flags.
The real, independent node is the `validator` package (`python -m validator`, HTTP only)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import IO, Any

from portal.errors import DomainError

from . import hooks
from .eip712 import sign_verdict, verdict_typed_data
from .selectors import assignment_list
from .services.verdicts import verdicts_submit

log = logging.getLogger(__name__)
BLOCKING_FLAGS = {
    "type_mismatch": "the bytes contradict the declared type",
    "executable_content": "the file is executable content",
    "duplicate_of_other_owner": "the same content was already anchored by someone else",
    "archive_unsafe_paths": "the archive holds unsafe paths",
}


def check(
    seat: Any, facts: dict[str, Any] | None = None, opener: Callable[[], tuple[IO[bytes], str]] | None = None
) -> tuple[str, str]:
    """('approve', '') or ('reject', reason) for one assignment. `facts` and `opener` come from
    the subject kind's batch lookups when the caller has them (run_once does)."""
    r = seat.round
    kind = hooks.subject_kind(r.subject_kind)
    if facts is None:
        facts = kind.describe([r.subject_ref])[r.subject_ref]
    fh, _name = (opener or kind.open([r.subject_ref])[r.subject_ref])()
    digest, size = hashlib.sha256(), 0
    with fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    if "0x" + digest.hexdigest() != r.content_hash:
        return "reject", "The downloaded bytes do not match the content hash."
    if facts.get("size") is not None and size != facts["size"]:
        return "reject", f"The file is {size} bytes, not the declared {facts['size']}."
    if size == 0:
        return "reject", "The file is empty."
    for flag in facts.get("flags", []):
        if flag in BLOCKING_FLAGS:
            return "reject", f"Automated check: {BLOCKING_FLAGS[flag]}."
    return "approve", ""


def run_once(accounts: list[Any], batch: int = 200) -> int:
    """Handle every open assignment of these local accounts once; returns verdicts submitted.
    Each verdict is checked and signed one by one; the signed verdicts of up to `batch`
    assignments go to verdicts_submit together (one transaction, each verified as if alone)."""
    submitted = 0
    for account in accounts:
        seats = list(assignment_list(address=account.address))
        for start in range(0, len(seats), batch):
            submitted += _handle(account, seats[start : start + batch])
    return submitted


def _handle(account: Any, seats: list[Any]) -> int:
    facts: dict[str, dict[str, dict[str, Any]]] = {}
    openers: dict[str, dict[str, Callable[[], tuple[IO[bytes], str]]]] = {}
    for kind_name in {seat.round.subject_kind for seat in seats}:
        kind = hooks.subject_kind(kind_name)
        refs = [seat.round.subject_ref for seat in seats if seat.round.subject_kind == kind_name]
        facts[kind_name], openers[kind_name] = kind.describe(refs), kind.open(refs)
    items, rounds = [], []
    for seat in seats:
        r = seat.round
        try:
            ref = r.subject_ref
            verdict, reason = check(seat, facts[r.subject_kind].get(ref), openers[r.subject_kind].get(ref))
        except DomainError as exc:
            log.info("validator %s skipped round %s: %s", account.address, r.pk, exc.detail)
            continue
        typed = verdict_typed_data(
            validator=account.address, round_id=r.pk, content_hash=r.content_hash, verdict=verdict, reason=reason
        )
        items.append({"round_id": r.pk, "message": typed["message"], "signature": sign_verdict(account.key, typed)})
        rounds.append(r.pk)
    submitted = 0
    for round_id, result in zip(rounds, verdicts_submit(items=items, automated=True) if items else [], strict=True):
        if isinstance(result, DomainError):
            log.info("validator %s skipped round %s: %s", account.address, round_id, result.detail)
        else:
            submitted += 1
    return submitted
