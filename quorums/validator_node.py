"""The automated validator node: poll assignments, re-hash the download, run checks, sign the
EIP-712 verdict with a local key, submit. Used by `manage.py run_validator` and demo data."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from portal.errors import DomainError

from . import hooks
from .eip712 import sign_verdict, verdict_typed_data
from .rounds import verdict_submit
from .selectors import assignment_list

log = logging.getLogger(__name__)
BLOCKING_FLAGS = {"type_mismatch": "the bytes contradict the declared type",
                  "executable_content": "the file is executable content",
                  "duplicate_of_other_owner": "the same content was already anchored by someone else",
                  "archive_unsafe_paths": "the archive holds unsafe paths"}


def check(seat: Any) -> tuple[str, str]:
    """('approve', '') or ('reject', reason) for one assignment."""
    r = seat.round
    kind = hooks.subject_kind(r.subject_kind)
    facts = kind.describe(r.subject_ref)
    fh, _name = kind.download(r.subject_ref)
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


def run_once(accounts: list[Any]) -> int:
    """Handle every open assignment of these local accounts once; returns verdicts submitted."""
    submitted = 0
    for account in accounts:
        for seat in list(assignment_list(address=account.address)):
            r = seat.round
            try:
                verdict, reason = check(seat)
                typed = verdict_typed_data(validator=account.address, round_id=r.pk, content_hash=r.content_hash,
                                           verdict=verdict, reason=reason)
                verdict_submit(round_id=r.pk, message=typed["message"], signature=sign_verdict(account.key, typed), automated=True)
                submitted += 1
            except DomainError as exc:
                log.info("validator %s skipped round %s: %s", account.address, r.pk, exc.detail)
    return submitted
