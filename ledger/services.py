"""The only way to move value or anchor a record. Every function is one database transaction."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring  # the C encoder json.dumps uses

from django.db import DatabaseError, DataError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from psycopg.pq import TransactionStatus

from portal.errors import DomainError
from portal.sql import bulk_insert

from . import combine, merkle, owners
from .errors import IdempotencyKeyReused, InsufficientFunds, InvalidAmount, InvalidTransaction, UnknownAsset
from .items import APPLIED, REFUSED, REPLAYED, Item, Leg, PostResult, Statement
from .items import MAX_BATCH as MAX_BATCH  # the API and its callers read it here
from .models import Account, Asset, Balance, Block, ChainHead, Kind, Leaf, Transaction

# Amounts are uint256-sized but kept below 2**255 so a signed posting always fits an int256.
MAX_AMOUNT = 2**255 - 1
MAX_LEAVES_PER_BLOCK = 200_000
TX_LEAF_KIND = "ledger.tx"
_KIND_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")

_ASSETS = frozenset(Asset.values)
_KINDS = frozenset(Kind.values)


def validate_amount(amount: object, *, signed: bool = False) -> int:
    """An int (not a bool, float or Decimal), non-zero, positive unless signed, |amount| < 2**255."""
    if type(amount) is not int:
        raise InvalidAmount(f"Amounts are integers in the asset's smallest unit, not {type(amount).__name__}.")
    if amount == 0 or (amount < 0 and not signed):
        raise InvalidAmount(f"An amount must be {'non-zero' if signed else 'positive'}; got {amount}.")
    if abs(amount) > MAX_AMOUNT:
        raise InvalidAmount("An amount must be below 2**255.")
    return amount


def validate_asset(asset: object) -> str:
    if not isinstance(asset, str) or asset not in _ASSETS:
        raise UnknownAsset(f"Unknown asset {asset!r}; the ledger holds {', '.join(Asset.values)}.")
    return asset


def _validate_owner(owner: object) -> str:
    if not owners.is_valid(owner):
        raise InvalidTransaction(f"{owner!r} is not an account owner (expected '<kind>:<name>').")
    return owner  # type: ignore[return-value]


def _validate(kind: object, postings: object, idempotency_key: object, memo: object) -> list[Leg]:
    if not isinstance(kind, str) or kind not in _KINDS:
        raise InvalidTransaction(f"Unknown transaction kind {kind!r}.")
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200 or "\x00" in idempotency_key:
        raise InvalidTransaction("An idempotency key (1 to 200 characters, no NUL) is required.")
    if not isinstance(memo, str) or len(memo) > 500 or "\x00" in memo:
        raise InvalidTransaction("A memo is text of at most 500 characters, without NUL.")
    if not isinstance(postings, list | tuple) or len(postings) < 2:
        raise InvalidTransaction("A transaction needs at least two postings.")
    legs: list[Leg] = []
    seen: set[tuple[str, str]] = set()
    totals: dict[str, int] = {}
    for leg in postings:
        if not isinstance(leg, list | tuple) or len(leg) != 3:
            raise InvalidTransaction("Each posting is (owner, asset, signed amount).")
        owner, asset, amount = _validate_owner(leg[0]), validate_asset(leg[1]), validate_amount(leg[2], signed=True)
        if (owner, asset) in seen:
            raise InvalidTransaction(f"{owner} appears twice for {asset}; merge the postings.")
        seen.add((owner, asset))
        totals[asset] = totals.get(asset, 0) + amount
        legs.append((owner, asset, amount))
    unbalanced = sorted(a for a, total in totals.items() if total != 0)
    if unbalanced:
        raise InvalidTransaction(f"Postings must sum to zero per asset; {', '.join(unbalanced)} does not.")
    return legs


# A transaction's two canonical JSON texts, written directly: byte for byte what
# merkle.canonical_json gives for the same dict (sorted keys, no spaces, UTF-8 text, strings
# escaped by the json module's own encoder; tests/ledger/test_properties.py proves it on random
# text), at a fraction of its cost per transfer in a 1,000-transfer batch.
_text = encode_basestring


def _legs_json(legs: Iterable[Sequence[str]]) -> str:
    return ",".join(f"[{_text(o)},{_text(a)},{_text(x)}]" for o, a, x in legs)


def fingerprint_json(kind: str, legs: Sequence[Leg], memo: str) -> str:
    """canonical_json({"kind", "memo", "postings": sorted [owner, asset, "amount"] legs})."""
    postings = _legs_json(sorted([o, a, str(x)] for o, a, x in legs))
    return f'{{"kind":{_text(kind)},"memo":{_text(memo)},"postings":[{postings}]}}'


def tx_payload_json(tx_id: int, key: str, kind: str, memo: str, legs: Sequence[Leg]) -> str:
    """canonical_json of a ledger.tx leaf's payload {"id", "idempotencyKey", "kind", "memo", "postings"}."""
    postings = _legs_json((o, a, str(x)) for o, a, x in legs)
    return (
        f'{{"id":{int(tx_id)},"idempotencyKey":{_text(key)},"kind":{_text(kind)},"memo":{_text(memo)},'
        f'"postings":[{postings}]}}'
    )


def _fingerprint(kind: str, legs: list[Leg], memo: str) -> str:
    return merkle.to_hex(merkle.keccak(fingerprint_json(kind, legs, memo).encode()))


def _with_fingerprints(items: list[Item]) -> None:
    for item in items:
        if not item.fingerprint:
            item.fingerprint = _fingerprint(item.kind, item.legs, item.memo)


@dataclass(frozen=True)
class TransactionIn:
    """A balanced set of `(owner, asset, signed amount)` postings under its own idempotency key."""

    kind: str
    postings: Sequence[Leg]
    idempotency_key: str
    memo: str = ""


@dataclass(frozen=True)
class TransferIn:
    """Move `amount` of `asset` from `source` to `destination`."""

    source: str
    destination: str
    asset: str
    amount: int
    kind: str
    idempotency_key: str
    memo: str = ""

    def as_transaction(self) -> TransactionIn:
        validate_amount(self.amount)
        if self.source == self.destination:
            raise InvalidTransaction("The source and destination of a transfer must differ.")
        return TransactionIn(
            kind=self.kind,
            postings=[(self.source, self.asset, -self.amount), (self.destination, self.asset, self.amount)],
            idempotency_key=self.idempotency_key,
            memo=self.memo,
        )


MAX_BALANCE = 10**78 - 1  # NUMERIC(78, 0)
SHARDS = 16  # balance rows per hot system account
RETRIES = 8


def transaction_post(*, kind: str, postings: Sequence[Leg], idempotency_key: str, memo: str = "") -> Transaction:
    """Apply a balanced set of postings atomically. Repeating a key with the same content returns
    the first transaction and moves nothing; with other content it is `idempotency_key_reused`."""
    item = TransactionIn(kind=kind, postings=postings, idempotency_key=idempotency_key, memo=memo)
    return transactions_post(transactions=[item])[0].transaction  # type: ignore[return-value]


def transfers_post(*, transfers: Sequence[TransferIn], atomic: bool = True) -> list[PostResult]:
    """Apply many transfers in one database transaction, each with its own key and result.

    `atomic=True`: all or nothing, the first refusal is raised and nothing is written.
    `atomic=False`: each transfer is applied or refused on its own (refusals are in the results)."""
    items: list[TransactionIn | DomainError] = []
    for transfer_in in transfers:
        try:
            items.append(transfer_in.as_transaction())
        except DomainError as exc:
            if atomic:
                raise
            items.append(exc)
    return transactions_post(transactions=items, atomic=atomic)


def transactions_post(*, transactions: Sequence[TransactionIn | DomainError], atomic: bool = True) -> list[PostResult]:
    """The one implementation behind every value move (see transfers_post for `atomic`).

    Locks every balance row the batch touches in one sorted pass (a hot system account's credit
    takes whichever of its shards is free), checks each item in order against running balances,
    then writes the transactions, postings and leaves in bulk and the balances in one UPDATE."""
    results: list[PostResult | None] = [None] * len(transactions)
    items: list[Item] = []
    for index, given in enumerate(transactions):
        try:
            if isinstance(given, DomainError):
                raise given
            legs = _validate(given.kind, given.postings, given.idempotency_key, given.memo)
        except DomainError as exc:
            if atomic:
                raise
            results[index] = PostResult(REFUSED, error=exc)
            continue
        # The fingerprint is computed later (_with_fingerprints): a large batch computes it
        # while PostgreSQL takes its locks.
        items.append(Item(index, given.kind, legs, given.idempotency_key, given.memo, ""))
    if not items:
        return results  # type: ignore[return-value]
    started = time.monotonic()
    if len(items) == 1 and combine.applies():
        _with_fingerprints(items)
        # A batch of one outside any transaction: concurrent writers share a transaction (ledger.combine).
        single = combine.post_one(
            items[0],
            batch=lambda batch, prelude: _post_in_transaction(batch, atomic=False, prelude=prelude),
            alone=lambda item: _post_in_transaction([item], atomic=False)[item.index],
        )
        outcomes = {items[0].index: single}
    else:
        outcomes = _post_in_transaction(items, atomic=atomic)
    for index, outcome in outcomes.items():
        if atomic and outcome.error is not None:
            raise outcome.error
        results[index] = outcome
    if len(items) == 1 and results[items[0].index].status == APPLIED:  # type: ignore[union-attr]
        combine.observe(results[items[0].index].transaction.pk, started)  # type: ignore[union-attr]
    return results  # type: ignore[return-value]


def _post_in_transaction(
    items: list[Item], *, atomic: bool, prelude: Sequence[Statement] = ()
) -> dict[int, PostResult]:
    """`items` applied in one transaction (a savepoint inside an enclosing one), retried on a
    racing key or a deadlock. `prelude`: statements run first in that transaction."""
    attempt = 0
    while True:
        attempt += 1
        try:
            if _bare_applies(items):
                done = _post_bare(items, atomic=atomic, prelude=prelude)
                if done is not None:
                    return done
            with transaction.atomic():
                return _post(items, atomic=atomic, prelude=prelude)
        except IntegrityError:
            # The unique key index made us wait for a racing batch that committed one of our keys:
            # look again, and that key is now a replay.
            if attempt >= RETRIES:
                raise
        except OperationalError as exc:
            # A deadlock between a payout locking every pool shard and a credit holding one of them.
            if getattr(exc.__cause__, "sqlstate", None) != "40P01" or attempt >= RETRIES:
                raise
        except DataError as exc:
            raise InvalidAmount("The resulting balance would exceed the ledger's range.") from exc


OPEN = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


def _bare_applies(items: list[Item]) -> bool:
    return connection.vendor == "postgresql" and not connection.in_atomic_block and len(items) < EARLY_IDS_FROM


class _Bare:
    """A transaction this module opens and ends in its own statements (the connection stays in
    autocommit): BEGIN travels with the look and COMMIT with the write, two round trips in all,
    where Django's atomic() sends BEGIN and COMMIT on their own (four)."""

    def __init__(self, prelude: Sequence[Statement]) -> None:
        self.prelude = prelude

    def begin(self) -> list[Statement]:
        return [("BEGIN", []), *self.prelude]

    @staticmethod
    def commit() -> list[Statement]:
        return [("COMMIT", [])]


class _General(Exception):
    """The bare path met what only the general path does (new balance rows)."""


def _post_bare(items: list[Item], *, atomic: bool, prelude: Sequence[Statement]) -> dict[int, PostResult] | None:
    """_post in a bare transaction, or None (nothing written) when the general path must run."""
    try:
        return _post(items, atomic=atomic, bare=_Bare(prelude))
    except _General:
        return None
    finally:
        # Whatever happened (a refusal, a failed statement, a replay with nothing to write), the
        # connection leaves in autocommit with no transaction open: what was not committed is not.
        # A broken connection has nothing to roll back (and the error that broke it goes on).
        raw = connection.connection
        if raw is not None and raw.info.transaction_status in OPEN:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("ROLLBACK")
            except DatabaseError:
                pass


def _replays(
    items: list[Item], taken: dict[str, tuple[int, str]], atomic: bool
) -> tuple[dict[int, PostResult], list[Item], dict[int, int]]:
    """Items whose key is already taken (replayed or refused) and the ones to apply; a key repeated
    inside the batch is applied once (`same` maps the repeat's index to the first one's)."""
    outcomes: dict[int, PostResult] = {}
    first: dict[str, Item] = {}
    same: dict[int, int] = {}
    fresh: list[Item] = []
    replayed: dict[int, int] = {}  # item index -> transaction id
    for item in items:
        earlier = taken.get(item.key)
        prior = first.get(item.key)
        if (earlier is not None and earlier[1] != item.fingerprint) or (
            prior is not None and prior.fingerprint != item.fingerprint
        ):
            where = earlier[0] if earlier is not None else f"item {prior.index}"  # type: ignore[union-attr]
            error = IdempotencyKeyReused(
                f"The idempotency key {item.key!r} was already used for a different transaction ({where})."
            )
            if atomic:
                raise error
            outcomes[item.index] = PostResult(REFUSED, error=error)
        elif earlier is not None:
            replayed[item.index] = earlier[0]
        elif prior is not None:
            same[item.index] = prior.index
        else:
            first[item.key] = item
            fresh.append(item)
    if replayed:
        found = Transaction.objects.in_bulk(set(replayed.values()))
        for index, tx_id in replayed.items():
            outcomes[index] = PostResult(REPLAYED, transaction=found[tx_id])
    return outcomes, fresh, same


def _post(
    items: list[Item], *, atomic: bool, prelude: Sequence[Statement] = (), bare: _Bare | None = None
) -> dict[int, PostResult]:
    """Two round trips on PostgreSQL: one looks (balance rows locked, keys already taken, ids
    drawn), one writes (transactions, postings, balances, leaves). New accounts add a few, once.

    A large batch draws its ids first (a third, short round trip), so Python builds every
    transaction and leaf row while the server takes the balance locks (see _look_while)."""
    pairs = sorted({(o, a) for item in items for o, a, _ in item.legs})
    debited = {(o, a) for item in items for o, a, x in item.legs if x < 0}
    # A sharded account takes one free shard unless it pays out (only the issuer may go below zero,
    # so a pool debit needs every shard to know its balance).
    spread = {p for p in pairs if p[0] in owners.SHARDED and (p[0] == owners.ISSUER or p not in debited)}
    keys = sorted({item.key for item in items})
    now = timezone.now()
    built: dict[int, _Built] = {}
    drawn: list[tuple[int, int]] = []
    early = connection.vendor == "postgresql" and len(items) >= EARLY_IDS_FROM
    if early:
        if prelude:
            _together(prelude)
        ids = dict(zip([item.index for item in items], _draw_ids(len(items)), strict=True))
        rows, taken = _look_while(pairs, spread, keys, lambda: built.update(_build(items, ids, now)))
    else:
        rows, taken, drawn = _look(pairs, spread, keys, first=bare.begin() if bare else list(prelude))
    missing = [p for p in pairs if p not in rows]
    if missing and bare:
        raise _General
    if missing:
        _create_balances(missing)
        rows = _locked_rows(pairs, spread)
    _with_fingerprints(items)  # done already while the look ran, for a large batch
    outcomes, fresh, same = _replays(items, taken, atomic)
    if fresh:
        if not early:
            if len(drawn) < len(fresh):  # defensive: the ids were counted from the same snapshot as the keys
                drawn += _draw_ids(len(fresh) - len(drawn))
            built = _build(fresh, dict(zip([item.index for item in fresh], drawn, strict=False)), now)
        slots = {p: _Slot(p[0], rows[p]) for p in pairs}
        outcomes.update(_apply(fresh, slots, built, atomic=atomic, bare=bare))
    for index, prior in same.items():
        done = outcomes[prior]
        outcomes[index] = (
            PostResult(REPLAYED, transaction=done.transaction)
            if done.status != REFUSED
            else PostResult(REFUSED, error=done.error)
        )
    return outcomes


# An item's transaction (as returned to the caller), its row and its leaf's row: everything but
# its postings, which need the balances the look returns.
_Built = tuple[Transaction, tuple, tuple]


def _build(items: list[Item], ids: dict[int, tuple[int, int]], now: datetime) -> dict[int, _Built]:
    _with_fingerprints(items)
    built = {}
    for item in items:
        tx_id, leaf_id = ids[item.index]
        # Positional, in field order (id, kind, idempotency_key, fingerprint, memo, created_at):
        # Django's fast path, as rows loaded from the database are built.
        tx = Transaction(tx_id, item.kind, item.key, item.fingerprint, item.memo, now)
        tx._state.adding = False
        leaf = _leaf_values(
            leaf_id=leaf_id,
            kind=TX_LEAF_KIND,
            subject=str(tx_id),
            payload_json=tx_payload_json(tx_id, item.key, item.kind, item.memo, item.legs),
        )
        built[item.index] = (
            tx,
            (tx_id, item.kind, item.key, item.fingerprint, item.memo, now),
            (*leaf.values(), now, tx_id),
        )
    return built


Row = tuple[int, int, int]  # (account id, balance id, amount)


class _Slot:
    """The balance rows one (owner, asset) uses in this batch and its running amount."""

    def __init__(self, owner: str, rows: list[Row]) -> None:
        self.owner = owner
        self.account_id = rows[0][0]
        self.rows = [(row_id, amount) for _, row_id, amount in rows]  # one row, or every shard of a paying pool
        self.amount = sum(amount for _, amount in self.rows)
        self.start = self.amount

    def updates(self) -> list[tuple[int, int]]:
        """New amounts: everything folds into the first row (the others go to zero)."""
        if self.amount == self.start:
            return []
        head, *rest = self.rows
        return [(head[0], self.amount)] + [(row_id, 0) for row_id, amount in rest if amount != 0]


POSTING_COLUMNS = {
    "transaction_id": "bigint",
    "account_id": "bigint",
    "asset": "text",
    "amount": "numeric",
    "balance_after": "numeric",
}
TRANSACTION_COLUMNS = {
    "id": "bigint",
    "kind": "text",
    "idempotency_key": "text",
    "fingerprint": "text",
    "memo": "text",
    "created_at": "timestamptz",
}


def _apply(
    items: list[Item],
    slots: dict[tuple[str, str], _Slot],
    built: dict[int, _Built],
    *,
    atomic: bool,
    bare: _Bare | None = None,
) -> dict[int, PostResult]:
    outcomes: dict[int, PostResult] = {}
    applied: list[tuple[Item, list[int]]] = []
    for item in items:
        try:
            after = _check(item, slots)
        except DomainError as exc:
            if atomic:
                raise
            outcomes[item.index] = PostResult(REFUSED, error=exc)
            continue
        applied.append((item, after))
    if not applied:
        return outcomes
    leaf_columns = {**LEAF_COLUMNS, "created_at": "timestamptz", "transaction_id": "bigint"}

    def rows(chunk: list[tuple[Item, list[int]]]) -> list[tuple[str, dict[str, str], list]]:
        tx_rows, posting_rows, leaf_rows = [], [], []
        for item, after in chunk:
            tx, tx_row, leaf_row = built[item.index]
            outcomes[item.index] = PostResult(APPLIED, transaction=tx)
            tx_rows.append(tx_row)
            leaf_rows.append(leaf_row)
            for (o, a, x), balance in zip(item.legs, after, strict=True):
                posting_rows.append((tx.pk, slots[(o, a)].account_id, a, x, balance))
        return [
            ("ledger_transaction", TRANSACTION_COLUMNS, tx_rows),
            ("ledger_posting", POSTING_COLUMNS, posting_rows),
            ("ledger_leaf", leaf_columns, leaf_rows),
        ]

    # A key a racing batch committed since we looked fails here (IntegrityError): we retry.
    _write(rows(applied), [u for slot in slots.values() for u in slot.updates()], then=bare.commit() if bare else [])
    return outcomes


# From this many transfers up, a batch's rows are written with COPY, one per table: PostgreSQL's
# bulk path. For 1,000 transfers the server took 22 ms where INSERT ... SELECT of the same rows
# sent as JSON took 35 ms. COPY streams, so the server parses rows while psycopg sends the next.
COPY_FROM = 200


def _write(
    inserts: list[tuple[str, dict[str, str], list[tuple]]],
    updates: list[tuple[int, int]],
    *,
    then: Sequence[Statement] = (),
) -> None:
    """Every insert and the balance updates. On PostgreSQL one statement (data-modifying CTEs: one
    plan, one snapshot), or for a large batch a COPY per table and then the update; executemany
    elsewhere. `then`: statements sent with the write (a bare transaction's COMMIT)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            for table, columns, rows in inserts:
                marks = ", ".join(["%s"] * len(columns))
                numeric = [i for i, kind in enumerate(columns.values()) if kind == "numeric"]
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    [[Decimal(v) if i in numeric else v for i, v in enumerate(row)] for row in rows],
                )
            cursor.executemany(
                "UPDATE ledger_balance SET amount = %s WHERE id = %s", [(Decimal(a), i) for i, a in updates]
            )
        return
    if len(inserts[0][2]) < COPY_FROM:
        _together([_write_statement(inserts, updates), *then])
        return
    # COPY's errors (a racing key, a balance out of range) are translated as a statement's are.
    with connection.wrap_database_errors, connection.cursor() as cursor:
        for table, columns, rows in inserts:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        cursor.execute(*_write_statement([], updates))
        if then:
            _together(then)


def _write_statement(
    inserts: list[tuple[str, dict[str, str], list[tuple]]], updates: list[tuple[int, int]]
) -> tuple[str, list]:
    """One statement: the inserts and the balance update as data-modifying CTEs (the references
    are checked after it, migration 0006)."""
    parts, params = [], []
    for k, (table, columns, rows) in enumerate(inserts):
        select, values = _rows_select(columns, rows)
        parts.append(f"i{k} AS (INSERT INTO {table} ({', '.join(columns)}) {select})")
        params += values
    if updates:
        select, values = _rows_select({"id": "bigint", "amount": "numeric"}, updates)
        parts.append(
            f"u AS (UPDATE ledger_balance b SET amount = v.amount FROM ({select}) v(id, amount) WHERE b.id = v.id)"  # noqa: S608
        )
        params += values
    return "WITH " + ", ".join(parts) + " SELECT 1", params


# How a Python value becomes JSON that PostgreSQL reads back as the column's type (a value that
# is already a string was converted by its producer).
_TO_JSON = {"bytea": lambda value: "\\x" + value.hex(), "timestamptz": lambda when: when.isoformat()}
JSON_ROWS_FROM = 32  # from this many rows up, rows travel as JSON (see _rows_select)
EARLY_IDS_FROM = JSON_ROWS_FROM  # from this many items up, a batch draws its ids first (see _post)


def _rows_select(columns: dict[str, str], rows: Sequence[Sequence]) -> tuple[str, list]:
    """A SELECT of `rows`, typed by `columns`. A few rows go as PostgreSQL arrays (the cheapest for
    the server to read), each as its array literal (see _array_literal); many go as one JSON array
    of arrays, which json.dumps encodes in C."""
    if len(rows) < JSON_ROWS_FROM:
        arrays = ", ".join(f"%s::{kind}[]" for kind in columns.values())
        literals = [
            _array_literal(kind, column) for kind, column in zip(columns.values(), zip(*rows, strict=True), strict=True)
        ]
        return f"SELECT * FROM unnest({arrays})", literals  # noqa: S608
    first = rows[0]
    convert = [
        (i, _TO_JSON[kind])
        for i, kind in enumerate(columns.values())
        if kind in _TO_JSON and not isinstance(first[i], str)
    ]
    if convert:
        values: list[list] = [list(row) for row in rows]
        for row in values:
            for i, to_json in convert:
                row[i] = to_json(row[i])
        rows = values
    document = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    fields = ", ".join(f"(r->>{i})::{kind} AS {name}" for i, (name, kind) in enumerate(columns.items()))
    return f"SELECT {fields} FROM jsonb_array_elements(%s::jsonb) AS r", [document]  # noqa: S608


def _together(statements: Sequence[tuple[str, Sequence]]) -> list[list[tuple]]:
    """Run PostgreSQL statements in one round trip (one query string; Django binds parameters on
    the client) and return each one's rows. Plain SQL text, so it works behind PgBouncer."""
    with connection.cursor() as cursor:
        cursor.execute(";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
        results = []
        while True:
            results.append(cursor.fetchall() if cursor.description is not None else [])
            if not cursor.nextset():
                return results


def _check(item: Item, slots: dict[tuple[str, str], _Slot]) -> list[int]:
    """The balance each leg leaves, or the refusal; applied to the running amounts only if all pass."""
    after = []
    for owner, asset, amount in item.legs:
        slot = slots[(owner, asset)]
        new = slot.amount + amount
        if new < 0 and not owners.may_go_negative(owner):
            raise InsufficientFunds(f"{owner} holds {slot.amount} {asset} and cannot pay {-amount}.")
        if abs(new) > MAX_BALANCE:
            raise InvalidAmount("The resulting balance would exceed the ledger's range.")
        after.append(new)
    for (owner, asset, _), new in zip(item.legs, after, strict=True):
        slots[(owner, asset)].amount = new
    return after


def _create_balances(pairs: list[tuple[str, str]]) -> None:
    """The account and balance rows (every shard of a sharded account) the pairs lack."""
    names = sorted({o for o, _ in pairs})
    ids = dict(Account.objects.filter(owner__in=names).values_list("owner", "id"))
    if len(ids) < len(names):
        Account.objects.bulk_create([Account(owner=o) for o in names if o not in ids], ignore_conflicts=True)
        ids.update(Account.objects.filter(owner__in=names).values_list("owner", "id"))
    Balance.objects.bulk_create(
        [
            Balance(account_id=ids[owner], asset=asset, shard=shard, allow_negative=owners.may_go_negative(owner))
            for owner, asset in pairs
            for shard in range(SHARDS if owner in owners.SHARDED else 1)
        ],
        ignore_conflicts=True,
    )


# Lock the rows of every (owner, asset) pair: one free shard per spread pair (SKIP LOCKED never
# waits), then everything else in one pass ordered by (account, asset, shard), the order every
# writer uses. A spread pair whose shards are all busy waits for shard 0, and a pool being debited
# takes all its shards.
# Pairs travel as "<owner> <asset>" (an owner holds no space): a two-table join with array
# filters plans in a fraction of the time a join with unnest(...) takes.
_LOCK_REST = (
    "SELECT a.owner, b.asset, b.account_id, b.id, b.amount FROM ledger_balance b"
    " JOIN ledger_account a ON a.id = b.account_id"
    " WHERE a.owner = ANY(%s::text[]) AND a.owner || ' ' || b.asset = ANY(%s::text[])"
    " AND (b.shard = 0 OR a.owner || ' ' || b.asset = ANY(%s::text[]))"
)
_LOCK_SQL = _LOCK_REST + " ORDER BY b.account_id, b.asset, b.shard FOR UPDATE OF b"
_LOCK_SPREAD_SQL = (
    "WITH s AS MATERIALIZED (SELECT p.owner, p.asset, a.id AS account_id, b.id, b.amount"
    " FROM unnest(%s::text[], %s::text[]) p(owner, asset) JOIN ledger_account a ON a.owner = p.owner"
    " CROSS JOIN LATERAL (SELECT id, amount FROM ledger_balance WHERE account_id = a.id AND asset = p.asset"
    " ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED) b"
    " WHERE a.owner = ANY(%s::text[])),"
    " r AS MATERIALIZED ({rest} AND NOT EXISTS (SELECT 1 FROM s WHERE s.owner = a.owner"
    " AND s.asset = b.asset) ORDER BY b.account_id, b.asset, b.shard FOR UPDATE OF b)"
    " SELECT * FROM s UNION ALL SELECT * FROM r"
).replace("{rest}", _LOCK_REST)


_CONTROL = re.compile(r"[\x00-\x1f]")


def _text_array(values: Sequence[str]) -> list[str] | str:
    """A text[] parameter as its array literal, which is its JSON text between braces (json.dumps
    in C; one string for psycopg to quote) where psycopg would quote element by element in Python
    (for a handful of values, ten times the time). JSON and array literals escape quotes and
    backslashes alike; JSON's other escapes are for control characters, so a list holding one
    goes as a list."""
    if _CONTROL.search("".join(values)):
        return list(values)  # a list: psycopg sends a tuple as a record
    return "{" + json.dumps(values, ensure_ascii=False, separators=(",", ":"))[1:-1] + "}"


_INTEGERS = frozenset({"bigint", "numeric"})


def _array_literal(kind: str, values: Sequence) -> list | str:
    """A column of a few rows as one array parameter: integers (bigint, numeric) and text go as
    their array literal (psycopg quotes one string), bytea and timestamps as text first. Anything
    else, or a NULL, goes as the list itself."""
    if any(value is None for value in values):
        return list(values)
    if kind in _INTEGERS and all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    to_json = _TO_JSON.get(kind)
    if to_json is not None and not isinstance(values[0], str):
        values = [to_json(value) for value in values]
    if kind in _TO_JSON or kind == "text":
        return _text_array(values)
    return list(values)


def _lock_statement(pairs: list[tuple[str, str]], spread: set[tuple[str, str]]) -> tuple[str, list]:
    rest = [
        _text_array(sorted({o for o, _ in pairs})),
        _text_array([f"{o} {a}" for o, a in pairs]),
        _text_array([f"{o} {a}" for o, a in pairs if (o, a) not in spread]),  # every shard (or the only one)
    ]
    if not spread:
        return _LOCK_SQL, rest
    ordered = sorted(spread)
    spread_names = [o for o, _ in ordered]
    return _LOCK_SPREAD_SQL, [spread_names, [a for _, a in ordered], sorted(set(spread_names)), *rest]


def _rows_by_pair(fetched: list[tuple]) -> dict[tuple[str, str], list[Row]]:
    found: dict[tuple[str, str], list[Row]] = {}
    for owner, asset, account_id, row_id, amount in fetched:
        found.setdefault((owner, asset), []).append((account_id, row_id, int(amount)))
    return found


# The transactions already holding any of a batch's keys: (id, key, fingerprint).
_TAKEN_SQL = "SELECT id, idempotency_key, fingerprint FROM ledger_transaction WHERE idempotency_key = ANY(%s::text[])"
# The same, and a transaction id and a leaf id drawn for each key that is not taken.
_TAKEN_AND_IDS_SQL = (
    "WITH t AS MATERIALIZED ("  # noqa: S608 - module constants only
    + _TAKEN_SQL
    + "), n AS MATERIALIZED (SELECT nextval('ledger_transaction_id_seq') AS tx,"
    " nextval('ledger_leaf_id_seq') AS leaf FROM generate_series(1, %s - (SELECT count(*) FROM t)))"
    " SELECT id, idempotency_key, fingerprint FROM t UNION ALL SELECT tx, NULL, NULL FROM n"
    " UNION ALL SELECT leaf, NULL, '' FROM n"
)


def _look(
    pairs: list[tuple[str, str]], spread: set[tuple[str, str]], keys: list[str], *, first: list[Statement]
) -> tuple[dict[tuple[str, str], list[Row]], dict[str, tuple[int, str]], list[tuple[int, int]]]:
    """One round trip on PostgreSQL: take the anchor lock (shared), lock the balance rows, read
    which keys are taken and draw a transaction id and a leaf id for each key that is not."""
    taken: dict[str, tuple[int, str]] = {}
    if connection.vendor != "postgresql":
        rows = _locked_rows(pairs, spread)
        taken = {
            k: (pk, f)
            for pk, k, f in Transaction.objects.filter(idempotency_key__in=keys).values_list(
                "pk", "idempotency_key", "fingerprint"
            )
        }
        return rows, taken, _draw_ids(len(keys) - len(taken))
    lock_sql, lock_params = _lock_statement(pairs, spread)
    *_, locked, drawn = _together(
        [
            *first,
            # The anchor lock before the ids: whoever holds a leaf id not yet committed holds it.
            ("SELECT pg_advisory_xact_lock_shared(%s)", [ANCHOR_LOCK]),
            (lock_sql, lock_params),
            (_TAKEN_AND_IDS_SQL, [_text_array(keys), len(keys)]),
        ]
    )
    tx_ids: list[int] = []
    leaf_ids: list[int] = []
    for pk, key, fingerprint in drawn:
        if key is not None:
            taken[key] = (int(pk), fingerprint)
        else:
            (tx_ids if fingerprint is None else leaf_ids).append(int(pk))
    return _rows_by_pair(locked), taken, list(zip(sorted(tx_ids), sorted(leaf_ids), strict=True))


def _look_while(
    pairs: list[tuple[str, str]], spread: set[tuple[str, str]], keys: list[str], work: Callable[[], object]
) -> tuple[dict[tuple[str, str], list[Row]], dict[str, tuple[int, str]]]:
    """_look for a batch whose ids are drawn: the balance locks and the taken keys are sent
    through psycopg's pipeline, `work` runs while the server executes them, then their rows are
    read (PostgreSQL only)."""
    lock_sql, lock_params = _lock_statement(pairs, spread)
    # Errors surface when the pipeline syncs, outside Django's cursor: translate them the same way.
    with (
        connection.wrap_database_errors,
        connection.cursor() as locks,
        connection.cursor() as found,
        connection.connection.pipeline(),
    ):
        locks.execute(lock_sql, lock_params)
        found.execute(_TAKEN_SQL, [_text_array(keys)])
        work()
        locked, taken = locks.fetchall(), found.fetchall()
    return _rows_by_pair(locked), {key: (int(pk), fingerprint) for pk, key, fingerprint in taken}


def _locked_rows(pairs: list[tuple[str, str]], spread: set[tuple[str, str]]) -> dict[tuple[str, str], list[Row]]:
    if connection.vendor != "postgresql":  # SQLite serialises writers: no row locks to order
        fetched = []
        with connection.cursor() as cursor:
            for owner, asset in pairs:
                cursor.execute(
                    "SELECT a.owner, b.asset, b.account_id, b.id, b.amount FROM ledger_balance b"
                    " JOIN ledger_account a ON a.id = b.account_id WHERE a.owner = %s AND b.asset = %s ORDER BY b.shard",
                    [owner, asset],
                )
                fetched += cursor.fetchall()
        return _rows_by_pair(fetched)
    return _rows_by_pair(_together([_lock_statement(pairs, spread)])[0])


def _draw_ids(count: int) -> list[tuple[int, int]]:
    """A transaction id and a leaf id for each of `count` transactions (the anchor lock first)."""
    if count <= 0:
        return []
    if connection.vendor != "postgresql":
        return list(zip(_next_ids("ledger_transaction", count), _next_leaf_ids(count), strict=True))
    tx_ids, leaf_ids = _anchored_ids(["ledger_transaction_id_seq", "ledger_leaf_id_seq"], count)
    return list(zip(tx_ids, leaf_ids, strict=True))


def _next_ids(table: str, count: int) -> list[int]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT nextval('{table}_id_seq') FROM generate_series(1, %s)", [count])  # noqa: S608
            return sorted(int(row[0]) for row in cursor.fetchall())
        # SQLite serialises writers (BEGIN IMMEDIATE), so MAX + 1 cannot race.
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        top = int(cursor.fetchone()[0])
        return list(range(top + 1, top + 1 + count))


def transfer(
    *, source: str, destination: str, asset: str, amount: int, kind: str, idempotency_key: str, memo: str = ""
) -> Transaction:
    """Move `amount` of `asset` from one owner to another (a batch of one)."""
    item = TransferIn(source, destination, asset, amount, kind, idempotency_key, memo)
    return transfers_post(transfers=[item])[0].transaction  # type: ignore[return-value]


def mint(*, to: str, asset: str, amount: int, idempotency_key: str, memo: str = "") -> Transaction:
    """Create new units from the issuer (whose balance goes negative by the supply)."""
    return transfer(
        source=owners.ISSUER,
        destination=to,
        asset=asset,
        amount=amount,
        kind=Kind.MINT,
        idempotency_key=idempotency_key,
        memo=memo,
    )


# Every transaction that draws leaf ids holds this advisory lock *shared* until it ends (writers
# never conflict on it). The sealer never takes it: it reads which transactions hold it (pg_locks)
# and waits for those alone to end, so new writers never queue behind the sealer.
ANCHOR_LOCK = 0x1ED6E5
HORIZON_POLL_SECONDS = 0.002


def _next_leaf_ids(count: int) -> list[int]:
    if connection.vendor != "postgresql":
        return _next_ids("ledger_leaf", count)
    return _anchored_ids(["ledger_leaf_id_seq"], count)[0]


def _anchored_ids(sequences: list[str], count: int) -> list[list[int]]:
    """`count` values of each sequence, ascending, drawn under the anchor lock (PostgreSQL). The
    lock comes before the ids (the materialised CTE yields its row before any id is drawn), so
    whoever holds an id not yet committed holds the lock."""
    draws = ", ".join(f"nextval('{name}')" for name in sequences)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(%s)) SELECT {draws}"  # noqa: S608
            " FROM held, generate_series(1, %s)",
            [ANCHOR_LOCK, count],
        )
        rows = cursor.fetchall()
    return [sorted(int(row[i]) for row in rows) for i in range(len(sequences))]


def _committed_leaf_horizon(cursor) -> int:
    """The highest leaf id such that every leaf at or below it is committed (or rolled back).

    Read the highest id drawn so far, then the transactions holding the anchor lock at that
    moment: any id at or below it that is not committed belongs to one of them (the lock is taken
    before ids are drawn and held to the end). Wait for exactly those to end; writers that start
    later draw higher ids and never wait for us."""
    if connection.vendor != "postgresql":
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM ledger_leaf")  # no concurrent writer on SQLite
        return int(cursor.fetchone()[0])
    cursor.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ledger_leaf_id_seq")
    drawn = int(cursor.fetchone()[0])
    holders_sql = (
        "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = 0 AND objid = %s"
        " AND objsubid = 1 AND granted AND pid <> pg_backend_pid()"
    )
    cursor.execute(holders_sql, [ANCHOR_LOCK])
    waiting = {row[0] for row in cursor.fetchall()}
    while waiting:
        time.sleep(HORIZON_POLL_SECONDS)
        cursor.execute(holders_sql, [ANCHOR_LOCK])
        waiting &= {row[0] for row in cursor.fetchall()}
    return drawn


LEAF_COLUMNS = {
    "id": "bigint",
    "kind": "text",
    "subject": "text",
    "payload_json": "text",
    "payload_hash": "text",
    "leaf_hash": "bytea",
}


def _leaf_values(*, leaf_id: int, kind: str, subject: str, payload_json: str) -> dict:
    s_hash, p_hash = merkle.subject_hash(kind, subject), merkle.payload_hash(payload_json)
    return {
        "id": leaf_id,
        "kind": kind,
        "subject": subject,
        "payload_json": payload_json,
        "payload_hash": merkle.to_hex(p_hash),
        "leaf_hash": merkle.ledger_leaf_hash(s_hash, leaf_id, p_hash),
    }


def _anchor(*, kind: str, subject: str, payload: dict) -> Leaf:
    payload_json = _anchor_json(kind, subject, payload)
    with transaction.atomic():
        values = _leaf_values(leaf_id=_next_leaf_ids(1)[0], kind=kind, subject=subject, payload_json=payload_json)
        return Leaf.objects.create(**values)


def _anchor_json(kind: object, subject: object, payload: object) -> str:
    """The canonical JSON of a record to anchor, or InvalidTransaction naming what is wrong."""
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise InvalidTransaction(f"An anchor kind is a short lowercase name; got {kind!r}.")
    if not isinstance(subject, str) or not 0 < len(subject) <= 200 or "\x00" in subject:
        raise InvalidTransaction("An anchor subject is text of 1 to 200 characters, without NUL.")
    if not isinstance(payload, dict):
        raise InvalidTransaction("An anchor payload is a JSON object.")
    try:
        return merkle.canonical_json(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidTransaction(f"The anchor payload is not plain JSON: {exc}.") from exc


def anchor(*, kind: str, subject: str, payload: dict) -> Leaf:
    """Queue a leaf committing to a record; call it inside your own transaction.atomic()."""
    if isinstance(kind, str) and kind.startswith("ledger."):
        raise InvalidTransaction("Anchor kinds starting with 'ledger.' are reserved for the ledger's own records.")
    return _anchor(kind=kind, subject=subject, payload=payload)


def anchor_many(records: Sequence[tuple[str, str, dict]]) -> list[Leaf]:
    """anchor() for many (kind, subject, payload) records at once: each checked as anchor()
    checks it (any refusal writes nothing), their ids drawn in one query and the leaves
    inserted in one statement, in the records' order (ascending ids). Call it inside your own
    transaction.atomic()."""
    prepared = []
    for kind, subject, payload in records:
        if isinstance(kind, str) and kind.startswith("ledger."):
            raise InvalidTransaction("Anchor kinds starting with 'ledger.' are reserved for the ledger's own records.")
        prepared.append((kind, subject, _anchor_json(kind, subject, payload)))
    if not prepared:
        return []
    # No savepoint (two round trips): a failure here fails the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        ids = _next_leaf_ids(len(prepared))
        return bulk_insert(
            Leaf,
            [
                Leaf(**_leaf_values(leaf_id=leaf_id, kind=kind, subject=subject, payload_json=payload_json))
                for leaf_id, (kind, subject, payload_json) in zip(ids, prepared, strict=True)
            ],
        )


def block_seal(*, max_leaves: int = MAX_LEAVES_PER_BLOCK) -> Block | None:
    """Seal the queued leaves into the next block; None when nothing is queued.

    One transaction: the chain-head row lock serialises sealers; the block takes the committed
    leaves after the previous block's last one, so no leaf is in two blocks and none is skipped;
    a crash leaves the block absent, never half-written. Writes two rows, whatever the leaf count."""
    with transaction.atomic():
        if not ChainHead.objects.filter(pk=1).exists():
            latest = Block.objects.order_by("-height").first()
            seed = (
                ChainHead(id=1, height=latest.height, block_hash=latest.block_hash, last_leaf_id=latest.last_leaf_id)
                if latest
                else ChainHead(id=1)
            )
            ChainHead.objects.bulk_create([seed], ignore_conflicts=True)
        head = ChainHead.objects.select_for_update().get(pk=1)
        height = head.height + 1
        with connection.cursor() as cursor:
            horizon = _committed_leaf_horizon(cursor)
            cursor.execute(
                "SELECT id, leaf_hash FROM ledger_leaf WHERE id > %s AND id <= %s ORDER BY id LIMIT %s",
                [head.last_leaf_id, horizon, max_leaves],
            )
            rows = cursor.fetchall()
        if not rows:
            return None
        root = merkle.make_tree([bytes(h) for _, h in rows])[0]
        timestamp = int(time.time())
        prev = merkle.from_hex(head.block_hash)
        digest = merkle.block_hash(
            height=height, prev_hash=prev, merkle_root=root, leaf_count=len(rows), timestamp=timestamp
        )
        block = Block.objects.create(
            height=height,
            first_leaf_id=head.last_leaf_id + 1,
            last_leaf_id=rows[-1][0],
            prev_hash=head.block_hash,
            merkle_root=merkle.to_hex(root),
            leaf_count=len(rows),
            timestamp=timestamp,
            block_hash=merkle.to_hex(digest),
        )
        ChainHead.objects.filter(pk=1).update(
            height=height, block_hash=block.block_hash, last_leaf_id=block.last_leaf_id
        )
    return block
