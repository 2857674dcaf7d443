"""The only way to move value or anchor a record. Every function is one database transaction."""

from __future__ import annotations

import re
import time
from decimal import Decimal

from django.db import DataError, IntegrityError, connection, transaction

from . import merkle, owners
from .errors import IdempotencyKeyReused, InsufficientFunds, InvalidAmount, InvalidTransaction, UnknownAsset
from .models import Account, Asset, Balance, Block, ChainHead, Kind, Leaf, Posting, Transaction

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


def _replay(idempotency_key: str, fingerprint: str) -> Transaction | None:
    existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"The idempotency key {idempotency_key!r} was already used for a different transaction ({existing.pk})."
        )
    return existing


def transaction_post(
    *, kind: str, postings: list[tuple[str, str, int]], idempotency_key: str, memo: str = ""
) -> Transaction:
    """Apply a balanced set of postings atomically. Repeating a key with the same content returns
    the first transaction and moves nothing; with other content it is `idempotency_key_reused`."""
    legs = _validate(kind, postings, idempotency_key, memo)
    fingerprint = _fingerprint(kind, legs, memo)
    existing = _replay(idempotency_key, fingerprint)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _apply(kind=kind, legs=legs, idempotency_key=idempotency_key, memo=memo, fingerprint=fingerprint)
    except DataError as exc:
        # Only a balance beyond NUMERIC(78, 0) (about 2**259) gets here; nothing was written.
        raise InvalidAmount("The resulting balance would exceed the ledger's range.") from exc
    except IntegrityError:
        # A concurrent call with the same key committed first (the unique index made us wait for it).
        existing = _replay(idempotency_key, fingerprint)
        if existing is None:
            raise
        return existing


def _apply(*, kind: str, legs: list[Leg], idempotency_key: str, memo: str, fingerprint: str) -> Transaction:
    tx = Transaction.objects.create(kind=kind, idempotency_key=idempotency_key, fingerprint=fingerprint, memo=memo)
    # A fixed order (owner, asset) for every row lock, so concurrent transactions never deadlock.
    ordered = sorted(legs, key=lambda leg: (leg[0], leg[1]))
    names = sorted({owner for owner, _, _ in ordered})
    Account.objects.bulk_create([Account(owner=o) for o in names], ignore_conflicts=True)
    account_ids = dict(Account.objects.filter(owner__in=names).values_list("owner", "id"))
    Balance.objects.bulk_create(
        [Balance(account_id=account_ids[o], asset=a, allow_negative=owners.may_go_negative(o)) for o, a, _ in ordered],
        ignore_conflicts=True,
    )
    after: dict[tuple[str, str], int] = {}
    with connection.cursor() as cursor:
        for owner, asset, amount in ordered:
            # Conditional update: the row lock and the overdraft check are one statement.
            cursor.execute(
                "UPDATE ledger_balance SET amount = amount + %s WHERE account_id = %s AND asset = %s"
                " AND (allow_negative OR amount + %s >= 0) RETURNING amount",
                [Decimal(amount), account_ids[owner], asset, Decimal(amount)],
            )
            row = cursor.fetchone()
            if row is None:
                have = Balance.objects.get(account_id=account_ids[owner], asset=asset).amount
                raise InsufficientFunds(f"{owner} holds {int(have)} {asset} and cannot pay {-amount}.")
            after[(owner, asset)] = int(row[0])
    Posting.objects.bulk_create(
        [
            Posting(
                transaction=tx,
                account_id=account_ids[o],
                asset=a,
                amount=Decimal(x),
                balance_after=Decimal(after[(o, a)]),
            )
            for o, a, x in legs
        ]
    )
    payload = {
        "id": tx.pk,
        "kind": kind,
        "idempotencyKey": idempotency_key,
        "memo": memo,
        "postings": [[o, a, str(x)] for o, a, x in legs],
    }
    _anchor(kind=TX_LEAF_KIND, subject=str(tx.pk), payload=payload, tx=tx)
    return tx


def transfer(
    *, source: str, destination: str, asset: str, amount: int, kind: str, idempotency_key: str, memo: str = ""
) -> Transaction:
    """Move `amount` of `asset` from one owner to another."""
    validate_amount(amount)
    if source == destination:
        raise InvalidTransaction("The source and destination of a transfer must differ.")
    return transaction_post(
        kind=kind,
        postings=[(source, asset, -amount), (destination, asset, amount)],
        idempotency_key=idempotency_key,
        memo=memo,
    )


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


# Anchoring transactions hold this advisory lock shared; the sealer takes it exclusively for an
# instant to learn the highest leaf id below which every leaf is committed (see block_seal).
ANCHOR_LOCK = 0x1ED6E5


def _next_leaf_id() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_advisory_xact_lock_shared(%s), nextval(pg_get_serial_sequence('ledger_leaf', 'id'))",
                [ANCHOR_LOCK],
            )
            return int(cursor.fetchone()[1])
        # SQLite serialises writers (BEGIN IMMEDIATE), so MAX + 1 cannot race.
        cursor.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM ledger_leaf")
        return int(cursor.fetchone()[0])


def _committed_leaf_horizon(cursor) -> int:
    """The highest leaf id such that every leaf at or below it is committed (or rolled back)."""
    if connection.vendor != "postgresql":
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM ledger_leaf")  # no concurrent writer on SQLite
        return int(cursor.fetchone()[0])
    # Waiting for the exclusive lock waits out every in-flight anchoring transaction; ids handed out
    # after we release it are higher than any we can see now.
    cursor.execute("SELECT pg_advisory_lock(%s)", [ANCHOR_LOCK])
    try:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM ledger_leaf")
        return int(cursor.fetchone()[0])
    finally:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [ANCHOR_LOCK])


def _anchor(*, kind: str, subject: str, payload: dict, tx: Transaction | None = None) -> Leaf:
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise InvalidTransaction(f"An anchor kind is a short lowercase name; got {kind!r}.")
    if not isinstance(subject, str) or not 0 < len(subject) <= 200 or "\x00" in subject:
        raise InvalidTransaction("An anchor subject is text of 1 to 200 characters, without NUL.")
    if not isinstance(payload, dict):
        raise InvalidTransaction("An anchor payload is a JSON object.")
    try:
        payload_json = merkle.canonical_json(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidTransaction(f"The anchor payload is not plain JSON: {exc}.") from exc
    with transaction.atomic():
        leaf_id = _next_leaf_id()
        s_hash, p_hash = merkle.subject_hash(kind, subject), merkle.payload_hash(payload_json)
        return Leaf.objects.create(
            id=leaf_id,
            kind=kind,
            subject=subject,
            payload_json=payload_json,
            payload_hash=merkle.to_hex(p_hash),
            leaf_hash=merkle.ledger_leaf_hash(s_hash, leaf_id, p_hash),
            transaction=tx,
        )


def anchor(*, kind: str, subject: str, payload: dict) -> Leaf:
    """Queue a leaf committing to a record; call it inside your own transaction.atomic()."""
    if isinstance(kind, str) and kind.startswith("ledger."):
        raise InvalidTransaction("Anchor kinds starting with 'ledger.' are reserved for the ledger's own records.")
    return _anchor(kind=kind, subject=subject, payload=payload)


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
