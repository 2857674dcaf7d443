"""MinHash signatures of accepted content, published so any validator node can flag near-duplicates
(`GET /api/v1/minhashes`, docs/validator.md). The signature is the validator package's own pure
function (`validator.checks.duplicates.signature`, datasketch), computed from the bytes read
through Django's storage API (never a filesystem path): at mint for files up to
`MINHASH_AT_MINT_BYTES` (in the mint batch, and then part of the anchored mint record), later by
`dats.tasks.dats_minhash_task` for larger ones."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from validator.checks.base import SAMPLE_BYTES, Content
from validator.checks.duplicates import SCHEME, prepare, signature
from validator.checks.filetype import file_type

log = logging.getLogger(__name__)
MINHASH_AT_MINT_BYTES = 1 << 20
PUBLISHED_SCHEME = SCHEME


def minhash_of(contribution: Any) -> list[int] | None:
    """The signature of a contribution's file as a node computes it (the first SAMPLE_BYTES, read
    through the storage API), or None: not text (Parquet rows are left to the nodes), no tokens."""
    try:
        with default_storage.open(contribution.storage_name, "rb") as fh:
            head = fh.read(SAMPLE_BYTES)
    except OSError:  # the file is gone from storage: mint without a signature rather than fail
        log.warning("contribution %s: its file cannot be read; no MinHash published", contribution.pk)
        return None
    content = Content(
        path=Path("/nonexistent/portal-storage"),  # never opened: `head` holds what the checks read
        size=int(contribution.size),
        sha256=contribution.sha256,
        keccak256=contribution.keccak256,
        name=contribution.original_name or "",
        declared_type=contribution.declared_type or "",
        _head=head,
    )
    fmt = file_type(content).figures.get("format", "binary")
    if fmt == "parquet":
        return None
    return signature(content, fmt)


def warm_up(**_: Any) -> None:
    """Celery's worker_process_init receiver (connected in DatsConfig.ready()): a worker mints, and
    minting computes signatures, so it loads datasketch when it starts rather than during the
    first mint it runs (a delay of ~0.7 s of CPU for that batch's rounds)."""
    prepare()


def next_seqs(n: int) -> list[int]:
    """n positions in the published list, increasing (one query)."""
    from django.db import connection

    if n <= 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT nextval('dats_minhash_seq') FROM generate_series(1, %s)", [n])
            return sorted(int(row[0]) for row in cursor.fetchall())
        cursor.execute("SELECT COALESCE(MAX(minhash_seq), 0) FROM dats_dat")  # SQLite: one writer at a time
        top = int(cursor.fetchone()[0])
        return list(range(top + 1, top + n + 1))
