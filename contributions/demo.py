"""Demo contributions for the embedded default: a few small files uploaded by demo members; the
demo validators (HTTP-only `python -m validator` nodes that bin/run and compose's demo start)
take them through validation to DATs while the portal runs. Idempotent."""

from __future__ import annotations

import contextlib
import json

from django.core.files.uploadhandler import StopFutureHandlers

from portal.demo import demo_account
from portal.models import User

from .models import Contribution
from .services import contribution_create
from .uploads import HashingUploadHandler

FILES = [
    (
        "open-health",
        "bob",
        "dataset",
        "De-identified triage notes, batch 1",
        "triage-notes-1.csv",
        "text/csv",
        b"age,complaint,priority\n34,chest pain,high\n61,dizziness,medium\n22,sprained ankle,low\n",
    ),
    (
        "open-health",
        "carol",
        "dataset",
        "Clinician-labelled symptom pairs",
        "symptom-pairs.jsonl",
        "application/json",
        b"".join(json.dumps({"a": a, "b": b}).encode() + b"\n" for a, b in [("fever", "flu"), ("rash", "allergy")]),
    ),
    (
        "law-commons",
        "dave",
        "dataset",
        "Tenancy case summaries",
        "tenancy-cases.txt",
        "text/plain",
        b"Case 1: deposit withheld without inventory; returned in full.\nCase 2: repairs ignored; rent reduced.\n",
    ),
]


def _staged(name: str, content_type: str, data: bytes):
    handler = HashingUploadHandler()
    # The handler claims the file by raising StopFutureHandlers, as it does inside Django's parser.
    with contextlib.suppress(StopFutureHandlers):
        handler.new_file("file", name, content_type, len(data))
    handler.receive_data_chunk(data, 0)
    return handler.file_complete(len(data))


def load(stdout) -> None:
    made = 0
    for slug, owner, kind, title, name, content_type, data in FILES:
        user = User.objects.get(address=demo_account(owner).address)
        if Contribution.objects.filter(owner=user, title=title).exists():
            continue
        try:
            contribution_create(
                idao_slug=slug,
                owner=user,
                upload=_staged(name, content_type, data),
                kind=kind,
                title=title,
                description="Demo contribution.",
                licence="CC-BY-4.0",
                usage_policy={
                    "allowed_uses": ["training", "fine_tuning", "inference", "evaluation"],
                    "price": 2,
                },
            )
        except Exception as exc:  # a demo file the rules refuse is reported, not fatal
            stdout.write(f"demo contribution {title!r} skipped: {exc}")
            continue
        made += 1
    stdout.write(f"demo contributions: {made} new")
