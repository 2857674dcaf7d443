"""What the offline checking commands (verify_bundle, verify_round, recount) share: reading the
file they are given, or standard input for `-`, with one error for a file that cannot be read."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import CommandError


def read_text_argument(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from None
