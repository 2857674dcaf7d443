"""The only way to move value or anchor a record. Every function is one database transaction."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from portal.errors import DomainError

from . import merkle, owners
from .errors import IdempotencyKeyReused, InsufficientFunds, InvalidAmount, InvalidTransaction, UnknownAsset
from .models import Account, Asset, Balance, Block, ChainHead, Kind, Leaf, Transaction

# Amounts are uint256-sized but kept below 2**255 so a signed posting always fits an int256.
MAX_AMOUNT = 2**255 - 1
MAX_LEAVES_PER_BLOCK = 200_000
TX_LEAF_KIND = "ledger.tx"
_KIND_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")

Leg = tuple[str, str, int]


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
    if asset not in Asset.values:
        raise UnknownAsset(f"Unknown asset {asset!r}; the ledger holds {', '.join(Asset.values)}.")
    return asset  # type: ignore[return-value]


def _validate_owner(owner: object) -> str:
    if not owners.is_valid(owner):
        raise InvalidTransaction(f"{owner!r} is not an account owner (expected '<kind>:<name>').")
    return owner  # type: ignore[return-value]


def _validate(kind: object, postings: object, idempotency_key: object, memo: object) -> list[Leg]:
    if kind not in Kind.values:
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


def _fingerprint(kind: str, legs: list[Leg], memo: str) -> str:
    content = {"kind": kind, "memo": memo, "postings": sorted([o, a, str(x)] for o, a, x in legs)}
    return merkle.to_hex(merkle.keccak(merkle.canonical_json(content).encode()))


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


APPLIED, REPLAYED, REFUSED = "applied", "replayed", "refused"


@dataclass
class PostResult:
    """One item's outcome: `applied` (written now), `replayed` (its key was already applied with
    the same content: the first transaction) or `refused` (nothing written; `error` says why)."""

    status: str
    transaction: Transaction | None = None
    error: DomainError | None = None

    @property
    def code(self) -> str | None:
        return self.error.code if self.error else None


@dataclass
class _Item:
    index: int
    kind: str
    legs: list[Leg]
    key: str
    memo: str
    fingerprint: str


MAX_BALANCE = 10**78 - 1  # NUMERIC(78, 0)
SHARDS = 16  # balance rows per hot system account
RETRIES = 8
MAX_BATCH = 1000  # transfers per API call


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
    items: list[_Item] = []
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
        fingerprint = _fingerprint(given.kind, legs, given.memo)
        items.append(_Item(index, given.kind, legs, given.idempotency_key, given.memo, fingerprint))
    if not items:
        return results  # type: ignore[return-value]
    attempt = 0
    while True:
        attempt += 1
        try:
            with transaction.atomic():
                outcomes = _post(items, atomic=atomic)
            break
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
    for index, outcome in outcomes.items():
        results[index] = outcome
    return results  # type: ignore[return-value]


def _replays(items: list[_Item], atomic: bool) -> tuple[dict[int, PostResult], list[_Item], dict[int, int]]:
    """Items whose key is already taken (replayed or refused) and the ones to apply; a key repeated
    inside the batch is applied once (`same` maps the repeat's index to the first one's)."""
    existing = {tx.idempotency_key: tx for tx in Transaction.objects.filter(idempotency_key__in={i.key for i in items})}
    outcomes: dict[int, PostResult] = {}
    first: dict[str, _Item] = {}
    same: dict[int, int] = {}
    fresh: list[_Item] = []
    for item in items:
        earlier = existing.get(item.key)
        prior = first.get(item.key)
        if (earlier is not None and earlier.fingerprint != item.fingerprint) or (
            prior is not None and prior.fingerprint != item.fingerprint
        ):
            taken = earlier.pk if earlier is not None else f"item {prior.index}"  # type: ignore[union-attr]
            error = IdempotencyKeyReused(
                f"The idempotency key {item.key!r} was already used for a different transaction ({taken})."
            )
            if atomic:
                raise error
            outcomes[item.index] = PostResult(REFUSED, error=error)
        elif earlier is not None:
            outcomes[item.index] = PostResult(REPLAYED, transaction=earlier)
        elif prior is not None:
            same[item.index] = prior.index
        else:
            first[item.key] = item
            fresh.append(item)
    return outcomes, fresh, same


def _post(items: list[_Item], *, atomic: bool) -> dict[int, PostResult]:
    outcomes, fresh, same = _replays(items, atomic)
    if fresh:
        outcomes.update(_apply(fresh, atomic=atomic))
    for index, prior in same.items():
        done = outcomes[prior]
        outcomes[index] = (
            PostResult(REPLAYED, transaction=done.transaction)
            if done.status != REFUSED
            else PostResult(REFUSED, error=done.error)
        )
    return outcomes


class _Slot:
    """The balance rows one (owner, asset) uses in this batch and its running amount."""

    def __init__(self, owner: str, rows: list[tuple[int, int]]) -> None:
        self.owner = owner
        self.rows = rows  # (balance id, amount): one row, or every shard of a pool being debited
        self.amount = sum(amount for _, amount in rows)
        self.start = self.amount

    def updates(self) -> list[tuple[int, int]]:
        """New amounts: everything folds into the first row (the others go to zero)."""
        if self.amount == self.start:
            return []
        head, *rest = self.rows
        return [(head[0], self.amount)] + [(row_id, 0) for row_id, amount in rest if amount != 0]


def _apply(items: list[_Item], *, atomic: bool) -> dict[int, PostResult]:
    pairs = sorted({(o, a) for item in items for o, a, _ in item.legs})
    account_ids = _account_ids(sorted({o for o, _ in pairs}))
    debited = {(o, a) for item in items for o, a, x in item.legs if x < 0}
    # A sharded account takes one free shard unless it pays out (only the issuer may go below zero,
    # so a pool debit needs every shard to know its balance).
    spread = [p for p in pairs if p[0] in owners.SHARDED and (p[0] == owners.ISSUER or p not in debited)]
    slots = _lock(pairs, spread, account_ids)
    outcomes: dict[int, PostResult] = {}
    applied: list[tuple[_Item, list[int]]] = []
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
    now = timezone.now()
    txs = _insert_transactions([item for item, _ in applied], now)
    _insert_rows(
        "ledger_posting",
        {
            "transaction_id": "bigint",
            "account_id": "bigint",
            "asset": "text",
            "amount": "numeric",
            "balance_after": "numeric",
        },
        [
            (tx.pk, account_ids[o], a, Decimal(x), Decimal(balance))
            for tx, (item, after) in zip(txs, applied, strict=True)
            for (o, a, x), balance in zip(item.legs, after, strict=True)
        ],
    )
    _write_balances([u for slot in slots.values() for u in slot.updates()])
    leaf_rows = []
    for leaf_id, tx, (item, _) in zip(_next_leaf_ids(len(txs)), txs, applied, strict=True):
        payload = {
            "id": tx.pk,
            "kind": item.kind,
            "idempotencyKey": item.key,
            "memo": item.memo,
            "postings": [[o, a, str(x)] for o, a, x in item.legs],
        }
        leaf = _leaf_values(
            leaf_id=leaf_id, kind=TX_LEAF_KIND, subject=str(tx.pk), payload_json=merkle.canonical_json(payload)
        )
        leaf_rows.append((*leaf.values(), now, tx.pk))
    _insert_rows("ledger_leaf", {**LEAF_COLUMNS, "created_at": "timestamptz", "transaction_id": "bigint"}, leaf_rows)
    for tx, (item, _) in zip(txs, applied, strict=True):
        outcomes[item.index] = PostResult(APPLIED, transaction=tx)
    return outcomes


def _insert_transactions(items: list[_Item], now) -> list[Transaction]:
    txs = [
        Transaction(kind=i.kind, idempotency_key=i.key, fingerprint=i.fingerprint, memo=i.memo, created_at=now)
        for i in items
    ]
    if connection.vendor != "postgresql":
        return Transaction.objects.bulk_create(txs)
    with connection.cursor() as cursor:
        # A key a racing batch committed since we looked fails here (IntegrityError): we retry.
        cursor.execute(
            "INSERT INTO ledger_transaction (kind, idempotency_key, fingerprint, memo, created_at)"
            " SELECT k, i, f, m, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) u(k, i, f, m)"
            " RETURNING id, idempotency_key",
            [
                now,
                [t.kind for t in txs],
                [t.idempotency_key for t in txs],
                [t.fingerprint for t in txs],
                [t.memo for t in txs],
            ],
        )
        ids = dict((key, pk) for pk, key in cursor.fetchall())
    for tx in txs:
        tx.pk = ids[tx.idempotency_key]
        tx._state.adding = False
    return txs


def _insert_rows(table: str, columns: dict[str, str], rows: list[tuple]) -> None:
    """One INSERT for every row: column arrays unnested on PostgreSQL, executemany elsewhere."""
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(f"%s::{kind}[]" for kind in columns.values())
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})",  # noqa: S608 (our own names)
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608


def _check(item: _Item, slots: dict[tuple[str, str], _Slot]) -> list[int]:
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


def _account_ids(names: list[str]) -> dict[str, int]:
    ids = dict(Account.objects.filter(owner__in=names).values_list("owner", "id"))
    missing = [o for o in names if o not in ids]
    if missing:
        Account.objects.bulk_create([Account(owner=o) for o in missing], ignore_conflicts=True)
        ids.update(Account.objects.filter(owner__in=missing).values_list("owner", "id"))
    return ids


def _lock(
    pairs: list[tuple[str, str]], spread: list[tuple[str, str]], account_ids: dict[str, int]
) -> dict[tuple[str, str], _Slot]:
    """Lock the rows of every pair: one free shard per spread pair (SKIP LOCKED never waits), then
    everything else in one pass ordered by (account, asset, shard), the order every writer uses."""
    wanted = [(account_ids[o], a, o) for o, a in pairs]
    rows = _locked_rows(wanted, spread={(account_ids[o], a) for o, a in spread})
    if any((account_id, asset) not in rows for account_id, asset, _ in wanted):
        Balance.objects.bulk_create(
            [
                Balance(account_id=account_id, asset=asset, shard=shard, allow_negative=owners.may_go_negative(owner))
                for account_id, asset, owner in wanted
                if (account_id, asset) not in rows
                for shard in range(SHARDS if owner in owners.SHARDED else 1)
            ],
            ignore_conflicts=True,
        )
        rows = _locked_rows(wanted, spread={(account_ids[o], a) for o, a in spread})
    return {(owner, asset): _Slot(owner, rows[(account_id, asset)]) for account_id, asset, owner in wanted}


def _locked_rows(
    wanted: list[tuple[int, str, str]], *, spread: set[tuple[int, str]]
) -> dict[tuple[int, str], list[tuple[int, int]]]:
    found: dict[tuple[int, str], list[tuple[int, int]]] = {}
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":  # SQLite serialises writers: no row locks to order
            for account_id, asset, _ in wanted:
                cursor.execute(
                    "SELECT id, amount FROM ledger_balance WHERE account_id = %s AND asset = %s ORDER BY shard",
                    [account_id, asset],
                )
                rows = [(row_id, int(amount)) for row_id, amount in cursor.fetchall()]
                if rows:
                    found[(account_id, asset)] = rows
            return found
        if spread:
            pairs = sorted(spread)
            cursor.execute(
                "SELECT p.account_id, p.asset, b.id, b.amount FROM unnest(%s::bigint[], %s::text[]) p(account_id, asset)"
                " CROSS JOIN LATERAL (SELECT id, amount FROM ledger_balance WHERE account_id = p.account_id"
                " AND asset = p.asset ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED) b",
                [[p[0] for p in pairs], [p[1] for p in pairs]],
            )
            for account_id, asset, row_id, amount in cursor.fetchall():
                found[(account_id, asset)] = [(row_id, int(amount))]
        # Every other row waits in the one order; a spread pair whose shards are all busy waits
        # for shard 0, and a pool being debited takes all its shards.
        rest = [(account_id, asset) for account_id, asset, _ in wanted if (account_id, asset) not in found]
        if not rest:
            return found
        cursor.execute(
            "SELECT b.account_id, b.asset, b.id, b.amount FROM ledger_balance b"
            " JOIN unnest(%s::bigint[], %s::text[], %s::bool[]) p(account_id, asset, every)"
            " ON b.account_id = p.account_id AND b.asset = p.asset AND (p.every OR b.shard = 0)"
            " ORDER BY b.account_id, b.asset, b.shard FOR UPDATE OF b",
            [[r[0] for r in rest], [r[1] for r in rest], [r not in spread for r in rest]],
        )
        for account_id, asset, row_id, amount in cursor.fetchall():
            found.setdefault((account_id, asset), []).append((row_id, int(amount)))
    return found


def _write_balances(updates: list[tuple[int, int]]) -> None:
    if not updates:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE ledger_balance b SET amount = v.amount FROM unnest(%s::bigint[], %s::numeric[]) v(id, amount)"
                " WHERE b.id = v.id",
                [[u[0] for u in updates], [Decimal(u[1]) for u in updates]],
            )
        else:
            cursor.executemany(
                "UPDATE ledger_balance SET amount = %s WHERE id = %s", [(Decimal(a), i) for i, a in updates]
            )


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
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The lock before the ids (the materialised CTE yields its row before any id is drawn):
            # whoever holds an id not yet committed holds the lock.
            cursor.execute(
                "WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(%s))"
                " SELECT nextval('ledger_leaf_id_seq') FROM held, generate_series(1, %s)",
                [ANCHOR_LOCK, count],
            )
            return sorted(int(row[0]) for row in cursor.fetchall())
        # SQLite serialises writers (BEGIN IMMEDIATE), so MAX + 1 cannot race.
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM ledger_leaf")
        top = int(cursor.fetchone()[0])
        return list(range(top + 1, top + 1 + count))


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
    with transaction.atomic():
        ids = _next_leaf_ids(len(prepared))
        return Leaf.objects.bulk_create(
            [
                Leaf(**_leaf_values(leaf_id=leaf_id, kind=kind, subject=subject, payload_json=payload_json))
                for leaf_id, (kind, subject, payload_json) in zip(ids, prepared, strict=True)
            ]
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
