"""Recompute the whole ledger from its rows and report the first thing that does not add up.

Set-based where the database can do the work (sums per transaction and per balance), streaming
and hashing in Python where only keccak can (leaves, roots, block hashes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection, transaction

from . import merkle, owners
from .services import TX_LEAF_KIND

CHUNK = 20_000


@dataclass
class Report:
    problem: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None


class Bad(Exception):
    pass


def _stream(sql: str, params: list | None = None):
    cursor = connection.chunked_cursor()
    try:
        cursor.execute(sql, params or [])
        while rows := cursor.fetchmany(CHUNK):
            yield from rows
    finally:
        cursor.close()


BlockRow = tuple[int, int, int, str, int]  # height, first leaf id, last leaf id, root, leaf count


def _blocks(report: Report) -> list[BlockRow]:
    """Heights from 1 without gaps, each linked to the previous hash and hashing to its own, with
    leaf ranges that follow each other."""
    blocks: list[BlockRow] = []
    prev = merkle.ZERO_HASH
    expected, last_leaf = 1, 0
    for height, first, last, prev_hash, root, count, timestamp, block_hash in _stream(
        "SELECT height, first_leaf_id, last_leaf_id, prev_hash, merkle_root, leaf_count, timestamp, block_hash"
        " FROM ledger_block ORDER BY height"
    ):
        if height != expected:
            raise Bad(f"block {expected}: missing (the next block is {height})")
        if prev_hash != merkle.to_hex(prev):
            raise Bad(f"block {height}: prev_hash does not match block {height - 1}'s hash")
        digest = merkle.block_hash(
            height=height, prev_hash=prev, merkle_root=merkle.from_hex(root), leaf_count=count, timestamp=timestamp
        )
        if merkle.to_hex(digest) != block_hash:
            raise Bad(f"block {height}: block_hash does not match its header")
        if first != last_leaf + 1 or last < first:
            raise Bad(f"block {height}: its leaf range does not follow block {height - 1}'s")
        blocks.append((height, first, last, root, count))
        prev, expected, last_leaf = digest, expected + 1, last
    with connection.cursor() as cursor:
        cursor.execute("SELECT height, block_hash, last_leaf_id FROM ledger_chainhead WHERE id = 1")
        head = cursor.fetchone()
    if head and (
        head[0] != expected - 1 or head[2] != last_leaf or (expected > 1 and head[1] != merkle.to_hex(prev))
    ):
        raise Bad(f"block {head[0]}: the chain head does not match the latest block {expected - 1}")
    report.counts["blocks"] = len(blocks)
    return blocks


def _leaves(report: Report, blocks: list[BlockRow]) -> None:
    """Every leaf hashes to what it stores; every block's leaves rebuild its Merkle root."""
    keccak, to_hex = merkle.keccak, merkle.to_hex
    pending = iter(blocks)
    block = next(pending, None)
    hashes: list[bytes] = []

    def close(row: BlockRow) -> None:
        height, _, _, root, count = row
        if len(hashes) != count or not hashes or to_hex(merkle.root_of(hashes)) != root:
            raise Bad(f"block {height}: its leaves do not rebuild its Merkle root")

    total = 0
    for leaf_id, kind, subject, payload_json, payload_hash, stored in _stream(
        "SELECT id, kind, subject, payload_json, payload_hash, leaf_hash FROM ledger_leaf ORDER BY id"
    ):
        total += 1
        p_hash = keccak(payload_json.encode())
        if to_hex(p_hash) != payload_hash:
            raise Bad(f"leaf {leaf_id}: its payload does not hash to payload_hash")
        computed = keccak(keccak(keccak(f"{kind}:{subject}".encode()) + leaf_id.to_bytes(32, "big") + p_hash))
        if computed != bytes(stored):
            raise Bad(f"leaf {leaf_id}: leaf_hash does not match its kind, subject, id and payload")
        while block is not None and leaf_id > block[2]:
            close(block)
            block, hashes = next(pending, None), []
        if block is not None:
            hashes.append(computed)
    while block is not None:
        close(block)
        block, hashes = next(pending, None), []
    report.counts["leaves"] = total


def _transactions(report: Report) -> None:
    """Every transaction sums to zero per asset and matches the leaf that anchors it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id, asset FROM ledger_posting GROUP BY transaction_id, asset"
            " HAVING SUM(amount) <> 0 ORDER BY transaction_id LIMIT 1"
        )
        row = cursor.fetchone()
        if row:
            raise Bad(f"transaction {row[0]}: its {row[1]} postings do not sum to zero")
        cursor.execute(
            "SELECT t.id FROM ledger_transaction t LEFT JOIN ledger_leaf l ON l.transaction_id = t.id"
            " WHERE l.id IS NULL OR l.kind <> %s OR l.subject <> CAST(t.id AS VARCHAR(20)) ORDER BY t.id LIMIT 1",
            [TX_LEAF_KIND],
        )
        row = cursor.fetchone()
        if row:
            raise Bad(f"transaction {row[0]}: it has no anchoring leaf")
    # The anchored payload must be exactly what the rows say now.
    postings = _stream(
        "SELECT p.transaction_id, a.owner, p.asset, p.amount FROM ledger_posting p"
        " JOIN ledger_account a ON a.id = p.account_id ORDER BY p.transaction_id, p.id"
    )
    pending = next(postings, None)
    count = 0
    for tx_id, kind, key, memo, payload_json in _stream(
        "SELECT t.id, t.kind, t.idempotency_key, t.memo, l.payload_json FROM ledger_transaction t"
        " JOIN ledger_leaf l ON l.transaction_id = t.id ORDER BY t.id"
    ):
        legs = []
        if pending is not None and pending[0] < tx_id:
            raise Bad(f"transaction {pending[0]}: postings without a transaction")
        while pending is not None and pending[0] == tx_id:
            legs.append([pending[1], pending[2], str(int(pending[3]))])
            pending = next(postings, None)
            count += 1
        expected = merkle.canonical_json(
            {"id": tx_id, "kind": kind, "idempotencyKey": key, "memo": memo, "postings": legs}
        )
        if expected != payload_json:
            raise Bad(f"transaction {tx_id}: its rows differ from the payload its leaf anchored")
    if pending is not None:
        raise Bad(f"transaction {pending[0]}: postings without a transaction")
    report.counts["transactions_checked_postings"] = count


def _balances(report: Report) -> None:
    """Each balance equals the sum of its postings; only the issuer is below zero."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(b.account_id, s.account_id), COALESCE(b.asset, s.asset), b.amount, s.total"
            " FROM ledger_balance b FULL OUTER JOIN"
            " (SELECT account_id, asset, SUM(amount) AS total FROM ledger_posting GROUP BY account_id, asset) s"
            " ON s.account_id = b.account_id AND s.asset = b.asset"
            " WHERE COALESCE(b.amount, 0) <> COALESCE(s.total, 0) ORDER BY 1, 2 LIMIT 1"
        )
        row = cursor.fetchone()
        if row:
            cursor.execute("SELECT owner FROM ledger_account WHERE id = %s", [row[0]])
            owner = (cursor.fetchone() or ["account " + str(row[0])])[0]
            raise Bad(f"balance of {owner} in {row[1]}: {row[2]} differs from its postings' sum {row[3]}")
        cursor.execute(
            "SELECT a.owner, b.asset FROM ledger_balance b JOIN ledger_account a ON a.id = b.account_id"
            " WHERE b.amount < 0 AND a.owner <> %s ORDER BY a.owner LIMIT 1",
            [owners.ISSUER],
        )
        row = cursor.fetchone()
        if row:
            raise Bad(f"balance of {row[0]} in {row[1]}: negative")
        cursor.execute("SELECT COUNT(*) FROM ledger_posting")
        report.counts["postings"] = cursor.fetchone()[0]


def ledger_verify() -> Report:
    """Check blocks, leaves, transactions and balances; the report names the first problem."""
    report = Report()
    snapshot = not connection.in_atomic_block
    with transaction.atomic():
        if snapshot and connection.vendor == "postgresql":
            # One consistent snapshot, so concurrent writers cannot cause false alarms.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            blocks = _blocks(report)
            _leaves(report, blocks)
            _transactions(report)
            _balances(report)
        except Bad as exc:
            report.problem = str(exc)
    return report
