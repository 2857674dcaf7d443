"""transfers_post: many transfers in one transaction, each with its own key and result."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.test import Client

from ledger import owners, selectors, services
from ledger.errors import InsufficientFunds
from ledger.models import Balance, Leaf, Transaction
from ledger.services import TransferIn
from ledger.verify import ledger_verify
from portal.models import ApiToken, User
from tests.ledger.held import HeldTransaction, after_it_commits
from tests.personas import DAVE, many

pytestmark = pytest.mark.django_db

A, B, C = (owners.user(p.address) for p in many(3))


def move(source, destination, amount, key, asset="LAZ"):
    return TransferIn(source, destination, asset, amount, "transfer", key)


def test_a_batch_applies_each_transfer_with_its_own_key_transaction_and_leaf():
    services.mint(to=A, asset="LAZ", amount=100, idempotency_key="fund")
    results = services.transfers_post(transfers=[move(A, B, 10, "t1"), move(B, C, 4, "t2"), move(A, C, 1, "t3")])
    assert [r.status for r in results] == ["applied"] * 3
    assert [r.transaction.idempotency_key for r in results] == ["t1", "t2", "t3"]
    assert Leaf.objects.filter(transaction__in=[r.transaction for r in results]).count() == 3
    assert selectors.balances([A, B, C], "LAZ") == {A: 89, B: 6, C: 5}
    # The second transfer spends what the first brought: items apply in order.
    assert [int(p.balance_after) for p in results[1].transaction.postings.order_by("id")] == [6, 4]
    assert ledger_verify().ok


def test_per_item_batch_applies_what_it_can_and_names_each_refusal():
    services.mint(to=A, asset="LAZ", amount=10, idempotency_key="fund")
    earlier = services.transfer(source=A, destination=B, asset="LAZ", amount=1, kind="transfer", idempotency_key="old")
    results = services.transfers_post(
        transfers=[
            move(A, B, 5, "a"),
            move(A, B, 50, "broke"),
            move(A, B, 1, "old"),  # replay of an earlier call
            move(A, B, 2, "old"),  # same key, other content
            move(A, A, 1, "self"),
            move(A, B, 5, "a"),  # repeat inside the batch
            move(A, B, 3, "b"),
        ],
        atomic=False,
    )
    assert [(r.status, r.code) for r in results] == [
        ("applied", None),
        ("refused", "insufficient_funds"),
        ("replayed", None),
        ("refused", "idempotency_key_reused"),
        ("refused", "invalid_transaction"),
        ("replayed", None),
        ("applied", None),
    ]
    assert results[2].transaction.pk == earlier.pk and results[5].transaction.pk == results[0].transaction.pk
    assert selectors.balance(A, "LAZ") == 1 and Transaction.objects.count() == 4
    assert ledger_verify().ok


def test_an_atomic_batch_with_one_refusal_writes_nothing():
    services.mint(to=A, asset="LAZ", amount=10, idempotency_key="fund")
    with pytest.raises(InsufficientFunds):
        services.transfers_post(transfers=[move(A, B, 5, "a"), move(A, C, 6, "b")])
    assert Transaction.objects.count() == 1 and selectors.balance(A, "LAZ") == 10


def test_transfer_is_a_batch_of_one_and_replays_as_before():
    services.mint(to=A, asset="LAZ", amount=10, idempotency_key="fund")
    one = services.transfer(source=A, destination=B, asset="LAZ", amount=3, kind="transfer", idempotency_key="k")
    [again] = services.transfers_post(transfers=[move(A, B, 3, "k")])
    assert again.status == "replayed" and again.transaction.pk == one.pk


def test_the_reward_pool_is_sharded_and_a_payout_sees_and_folds_every_shard():
    for i in range(40):
        services.mint(to=owners.REWARD_POOL, asset="CREDIT", amount=1 + i, idempotency_key=f"fee:{i}")
    assert Balance.objects.filter(account__owner=owners.REWARD_POOL).count() == services.SHARDS
    assert selectors.balance(owners.REWARD_POOL, "CREDIT") == sum(range(1, 41)) == 820
    assert selectors.supply()["CREDIT"] == 820
    services.transfer(
        source=owners.REWARD_POOL, destination=A, asset="CREDIT", amount=800, kind="reward", idempotency_key="pay"
    )
    amounts = list(
        Balance.objects.filter(account__owner=owners.REWARD_POOL).order_by("shard").values_list("amount", flat=True)
    )
    assert amounts[0] == 20 and set(amounts[1:]) == {0}
    with pytest.raises(InsufficientFunds):
        services.transfer(
            source=owners.REWARD_POOL, destination=A, asset="CREDIT", amount=21, kind="reward", idempotency_key="p2"
        )
    assert ledger_verify().ok


def test_a_tampered_shard_is_named_by_verify_ledger():
    services.mint(to=owners.REWARD_POOL, asset="LAZ", amount=5, idempotency_key="m")
    from tests.ledger.test_verify import _tamper

    _tamper(
        "UPDATE ledger_balance SET amount = amount + 1 WHERE shard = 3 AND account_id ="
        " (SELECT id FROM ledger_account WHERE owner = %s)",
        [owners.REWARD_POOL],
        "ledger_balance",
    )
    assert ledger_verify().problem == f"balance of {owners.REWARD_POOL} in LAZ: 6 differs from its postings' sum 5"


def _token(user, scopes) -> str:
    raw, prefix, key_hash = ApiToken.generate()
    ApiToken.objects.create(user=user, name="treasury", prefix=prefix, key_hash=key_hash, scopes=list(scopes))
    return raw


def _post(body, **headers):
    response = Client().post(
        "/api/v1/ledger/transfers", data=json.dumps(body), content_type="application/json", **headers
    )
    return response.status_code, response.json()


def test_the_transfers_api_applies_a_batch_for_a_treasury_token_and_refuses_others():
    services.mint(to=A, asset="LAZ", amount=10, idempotency_key="fund")
    user = User.objects.create(address=DAVE.address)
    items = [
        {"source": A, "destination": B, "asset": "LAZ", "amount": "4", "idempotency_key": "api:1"},
        {"source": A, "destination": C, "asset": "LAZ", "amount": "40", "idempotency_key": "api:2"},
    ]
    status, body = _post(
        {"transfers": items, "atomic": False}, HTTP_AUTHORIZATION=f"Bearer {_token(user, ['treasury'])}"
    )
    assert status == 200, body
    assert (body["applied"], body["refused"]) == (1, 1)
    assert body["results"][1] == {
        "status": "refused",
        "transaction_id": None,
        "leaf_id": None,
        "error": "insufficient_funds",
        "detail": body["results"][1]["detail"],
    }
    assert body["results"][0]["leaf_id"] == Transaction.objects.get(idempotency_key="api:1").leaf.pk
    status, body = _post({"transfers": items}, HTTP_AUTHORIZATION=f"Bearer {_token(user, ['treasury'])}")
    assert (status, body["error"]) == (409, "insufficient_funds")
    status, body = _post({"transfers": items}, HTTP_AUTHORIZATION=f"Bearer {_token(user, ['usage:report'])}")
    assert (status, body["error"]) == (403, "insufficient_scope")
    assert _post({"transfers": items})[0] == 401
    too_many = [dict(items[0], idempotency_key=f"k{i}") for i in range(services.MAX_BATCH + 1)]
    status, body = _post({"transfers": too_many}, HTTP_AUTHORIZATION=f"Bearer {_token(user, ['treasury'])}")
    assert (status, body["error"]) == (422, "invalid_input")
    assert selectors.balance(A, "LAZ") == 6


def test_staff_post_transfers_with_a_session_and_members_may_not(signed_in):
    services.mint(to=A, asset="LAZ", amount=10, idempotency_key="fund")
    item = {"source": A, "destination": B, "asset": "LAZ", "amount": "1", "idempotency_key": "s:1"}
    client = signed_in()
    response = client.post("/api/v1/ledger/transfers", {"transfers": [item]}, content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (403, "staff_only")
    staff = signed_in(DAVE)
    dave = User.objects.get(address=DAVE.address)
    dave.is_staff = True
    dave.save(update_fields=["is_staff"])  # save() drops the cached user
    response = staff.post("/api/v1/ledger/transfers", {"transfers": [item]}, content_type="application/json")
    assert response.status_code == 200 and response.json()["applied"] == 1, response.content


def test_a_full_batch_of_one_thousand_transfers_is_one_call_and_one_leaf_each():
    services.mint(to=A, asset="CREDIT", amount=10**6, idempotency_key="fund")
    user = User.objects.create(address=DAVE.address)
    payees = [owners.user(p.address) for p in many(services.MAX_BATCH, start=5000)]
    items = [
        {"source": A, "destination": payee, "asset": "CREDIT", "amount": str(1 + i % 7), "idempotency_key": f"f:{i}"}
        for i, payee in enumerate(payees)
    ]
    status, body = _post({"transfers": items}, HTTP_AUTHORIZATION=f"Bearer {_token(user, ['treasury'])}")
    assert status == 200 and body["applied"] == services.MAX_BATCH, body
    assert len({r["leaf_id"] for r in body["results"]}) == services.MAX_BATCH
    assert selectors.balance(A, "CREDIT") == 10**6 - sum(1 + i % 7 for i in range(services.MAX_BATCH))
    assert ledger_verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_large_batch_racing_a_writer_for_one_key_retries_and_refuses_only_that_item():
    """A batch large enough to be written with COPY meets, at the unique index, a key another
    transaction holds uncommitted: the error surfaces at the end of the COPY, is retried as any
    racing key, and only that item is refused once the other commits."""
    payers = [owners.user(p.address) for p in many(300)]
    services.transfers_post(
        transfers=[TransferIn(owners.ISSUER, p, "LAZ", 100, "mint", f"fund:{i}") for i, p in enumerate(payers)]
    )
    rival = _rival("raced")
    outcome: list = []

    def post():
        outcome.extend(
            services.transfers_post(
                transfers=[
                    move(p, owners.idao("sink"), 1, "raced" if i == 150 else f"big:{i}") for i, p in enumerate(payers)
                ],
                atomic=False,
            )
        )

    after_it_commits(rival, post, waiting=_waiting_on_a_key)  # the batch waits on the uncommitted key
    assert [r.code for r in outcome if r.status == "refused"] == ["idempotency_key_reused"]
    assert outcome[150].status == "refused"
    assert sum(r.status == "applied" for r in outcome) == 299
    assert Transaction.objects.filter(idempotency_key__startswith="big:").count() == 299


def test_a_batch_written_with_copy_keeps_huge_amounts_and_any_text_exactly():
    """COPY's text format escapes tabs, newlines and backslashes; amounts far beyond 64 bits are numeric:
    every value reads back as it was posted, and the leaves verify."""
    size = services.COPY_FROM + 5
    payers = [owners.user(p.address) for p in many(size, start=7000)]
    memo = 'tab\there, line\nbreak, back\\slash, "quote", \\N, é ✓'
    amounts = [2**250 + i for i in range(size)]  # the issuer pays them all: its balance stays in range
    results = services.transfers_post(
        transfers=[
            TransferIn(owners.ISSUER, p, "LAZ", amount, "mint", f"copy:\t{i}\\", memo)
            for i, (p, amount) in enumerate(zip(payers, amounts, strict=True))
        ]
    )
    assert all(r.status == "applied" for r in results)
    stored = Transaction.objects.filter(idempotency_key__startswith="copy:").order_by("id")
    assert [(t.idempotency_key, t.memo) for t in stored] == [(f"copy:\t{i}\\", memo) for i in range(size)]
    assert [selectors.balance(p, "LAZ") for p in payers] == amounts
    leaf = Leaf.objects.get(transaction_id=results[-1].transaction.pk)
    assert json.loads(leaf.payload_json)["memo"] == memo
    assert ledger_verify().ok


def _open_transaction() -> bool:
    from django.db import connection
    from psycopg.pq import TransactionStatus

    return connection.connection.info.transaction_status != TransactionStatus.IDLE


@pytest.mark.django_db(transaction=True)
def test_a_transfer_outside_any_transaction_commits_in_its_own_and_leaves_none_open():
    """Outside a caller's transaction the ledger opens and ends its own: what it applied is
    committed, what it refused or replayed wrote nothing, and no transaction is left open on the
    connection either way."""
    services.mint(to=A, asset="LAZ", amount=10, idempotency_key="fund")
    first = services.transfer(source=A, destination=B, asset="LAZ", amount=4, kind="transfer", idempotency_key="t1")
    assert not _open_transaction()
    again = services.transfer(source=A, destination=B, asset="LAZ", amount=4, kind="transfer", idempotency_key="t1")
    assert again.pk == first.pk and not _open_transaction()
    with pytest.raises(InsufficientFunds):
        services.transfer(source=A, destination=B, asset="LAZ", amount=7, kind="transfer", idempotency_key="t2")
    assert not _open_transaction()
    results = services.transfers_post(transfers=[move(A, B, 1, "t3"), move(B, A, 99, "t4")], atomic=False)
    assert [r.status for r in results] == ["applied", "refused"] and not _open_transaction()
    # A second connection sees exactly what was committed.
    with psycopg.connect(_dsn()) as other:
        keys = [row[0] for row in other.execute("SELECT idempotency_key FROM ledger_transaction ORDER BY id")]
    assert keys == ["fund", "t1", "t3"]
    assert selectors.balances([A, B], "LAZ") == {A: 5, B: 5}
    assert ledger_verify().ok


def _dsn() -> str:
    from django.db import connection

    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port", "password") and v}
    )


@pytest.mark.django_db(transaction=True)
def test_a_transfer_whose_write_fails_outside_any_transaction_rolls_back_and_looks_again():
    """A single transfer's write meets, at the unique index, a key another transaction holds
    uncommitted: once that one commits, the failed transaction is rolled back (no write of it
    stays, none is left open) and the retry finds the key taken by other content."""

    from ledger.errors import IdempotencyKeyReused

    services.mint(to=A, asset="LAZ", amount=10, idempotency_key="fund")
    services.transfer(source=A, destination=B, asset="LAZ", amount=1, kind="transfer", idempotency_key="warm")
    rival = _rival("raced")
    outcome: list = []

    def post():
        try:
            services.transfer(source=A, destination=B, asset="LAZ", amount=2, kind="transfer", idempotency_key="raced")
        except Exception as exc:
            outcome.append(exc)
        finally:
            outcome.append(_open_transaction())

    after_it_commits(rival, post, waiting=_waiting_on_a_key)  # our write waits at the unique index
    error, left_open = outcome
    assert isinstance(error, IdempotencyKeyReused), outcome
    assert left_open is False
    assert selectors.balances([A, B], "LAZ") == {A: 9, B: 1}  # the failed transfer moved nothing
    (raced,) = Transaction.objects.filter(idempotency_key="raced")
    assert raced.fingerprint == "0xother" and not raced.postings.exists()  # only the rival's row
    assert not Leaf.objects.filter(transaction=raced).exists()


def _rival(key: str) -> HeldTransaction:
    """Another connection's transaction holding `key`, uncommitted until released (its
    fingerprint, '0xother', matches no transfer)."""
    from django.db import connection

    def insert() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO ledger_transaction (kind, idempotency_key, fingerprint, memo, created_at)"
                " VALUES ('transfer', %s, '0xother', '', now())",
                [key],
            )

    return HeldTransaction(insert)


def _waiting_on_a_key() -> bool:
    """Some transaction waits for another's uncommitted row (here: at the unique key index)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted")
        return cursor.fetchone()[0] > 0
