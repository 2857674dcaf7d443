from __future__ import annotations

import pytest

from ledger import owners, selectors, services
from ledger.errors import IdempotencyKeyReused, InsufficientFunds, InvalidAmount, InvalidTransaction, UnknownAsset
from ledger.models import Leaf, Posting, Transaction
from tests.personas import ALICE, BOB

pytestmark = pytest.mark.django_db

A = owners.user(ALICE.address)
B = owners.user(BOB.address)


def test_mint_credits_the_recipient_and_debits_the_issuer():
    services.mint(to=A, asset="LAZ", amount=100, idempotency_key="m1")
    assert selectors.balance(A, "LAZ") == 100
    assert selectors.balance(owners.ISSUER, "LAZ") == -100
    assert selectors.balances([A, B], "LAZ") == {A: 100, B: 0}


def test_transfer_moves_value_and_records_balanced_postings():
    services.mint(to=A, asset="LAZ", amount=100, idempotency_key="m1")
    tx = services.transfer(source=A, destination=B, asset="LAZ", amount=30, kind="transfer", idempotency_key="t1")
    assert selectors.balances([A, B], "LAZ") == {A: 70, B: 30}
    assert sum(p.amount for p in tx.postings.all()) == 0
    assert Leaf.objects.get(transaction=tx).subject == str(tx.pk)


def test_insufficient_funds_moves_nothing():
    services.mint(to=A, asset="LAZ", amount=10, idempotency_key="m1")
    with pytest.raises(InsufficientFunds):
        services.transfer(source=A, destination=B, asset="LAZ", amount=11, kind="transfer", idempotency_key="t1")
    assert selectors.balances([A, B], "LAZ") == {A: 10, B: 0}
    assert not Transaction.objects.filter(idempotency_key="t1").exists()


def test_repeated_key_returns_the_first_transaction_and_moves_nothing():
    first = services.mint(to=A, asset="LAZ", amount=10, idempotency_key="m1")
    again = services.mint(to=A, asset="LAZ", amount=10, idempotency_key="m1")
    assert again.pk == first.pk
    assert selectors.balance(A, "LAZ") == 10
    with pytest.raises(IdempotencyKeyReused):
        services.mint(to=A, asset="LAZ", amount=11, idempotency_key="m1")


@pytest.mark.parametrize("amount", [0, -1, True, 1.0, 2**255, "5", None])
def test_invalid_amounts_are_rejected_before_any_write(amount):
    with pytest.raises(InvalidAmount):
        services.mint(to=A, asset="LAZ", amount=amount, idempotency_key="bad")
    assert not Posting.objects.exists() and not Transaction.objects.exists()


def test_unknown_asset_and_unbalanced_postings_are_rejected():
    with pytest.raises(UnknownAsset):
        services.mint(to=A, asset="ETH", amount=1, idempotency_key="x")
    with pytest.raises(InvalidTransaction):
        services.transaction_post(kind="transfer", postings=[(A, "LAZ", -1), (B, "LAZ", 2)], idempotency_key="y")
    assert not Transaction.objects.exists()


def test_sealing_puts_every_queued_leaf_in_one_block_and_chains_blocks():
    services.mint(to=A, asset="LAZ", amount=5, idempotency_key="m1")
    leaf = services.anchor(kind="test.record", subject="r1", payload={"a": 1})
    first = services.block_seal()
    assert first.height == 1 and first.leaf_count == 2
    assert services.block_seal() is None
    services.anchor(kind="test.record", subject="r2", payload={"a": 2})
    second = services.block_seal()
    assert second.height == 2 and second.prev_hash == first.block_hash
    assert selectors.leaf_block(leaf.pk).height == 1


def test_a_balance_beyond_the_ledger_range_is_refused_without_a_write():
    big = 2**255 - 1
    for i in range(16):
        services.mint(to=A, asset="LAZ", amount=big, idempotency_key=f"big{i}")
    with pytest.raises(InvalidAmount):
        for i in range(16, 40):
            services.mint(to=A, asset="LAZ", amount=big, idempotency_key=f"big{i}")
    assert selectors.balance(A, "LAZ") % big == 0


@pytest.mark.parametrize(
    ("kind", "subject", "payload"),
    [("ledger.tx", "1", {}), ("Bad Kind", "s", {}), ("ok", "", {}), ("ok", "s", {"x": float("nan")}), ("ok", "s", [1])],
)
def test_malformed_or_reserved_anchors_are_refused(kind, subject, payload):
    with pytest.raises(InvalidTransaction):
        services.anchor(kind=kind, subject=subject, payload=payload)
    assert not Leaf.objects.exists()


@pytest.mark.parametrize(
    ("kind", "subject", "payload"),
    [("ledger.tx", "1", {}), ("Bad Kind", "s", {}), ("ok", "", {}), ("ok", "s", {"x": float("nan")}), ("ok", "s", [1])],
)
def test_anchor_many_refuses_the_whole_batch_for_one_malformed_record(kind, subject, payload):
    with pytest.raises(InvalidTransaction):
        services.anchor_many([("test.record", "fine", {}), (kind, subject, payload)])
    assert not Leaf.objects.exists()


def test_anchor_many_gives_the_leaves_anchor_gives_in_order_and_they_seal_and_prove():
    from ledger import proofs
    from ledger.selectors import proof_bundle

    single = services.anchor(kind="test.record", subject="x", payload={"n": 0})
    many = services.anchor_many([("test.record", f"x{i}", {"n": i}) for i in range(1, 4)])
    assert [leaf.pk for leaf in many] == [single.pk + 1, single.pk + 2, single.pk + 3]
    assert [leaf.subject for leaf in many] == ["x1", "x2", "x3"]
    assert all(leaf.created_at is not None for leaf in Leaf.objects.filter(pk__in=[leaf.pk for leaf in many]))
    services.block_seal()
    for leaf in [single, *many]:
        bundle = proof_bundle(leaf.pk)
        proofs.check_proof(bundle)
        assert bundle["leaf"]["payload"] == Leaf.objects.get(pk=leaf.pk).payload_json


def test_anchor_payloads_commit_to_canonical_json_whatever_the_key_order():
    one = services.anchor(kind="test.record", subject="a", payload={"b": 1, "a": [True, None, "ü"]})
    two = services.anchor(kind="test.record", subject="b", payload={"a": [True, None, "ü"], "b": 1})
    assert one.payload_json == two.payload_json == '{"a":[true,null,"ü"],"b":1}'
    assert one.payload_hash == two.payload_hash
    assert one.get_absolute_url() == f"/ledger/proofs/{one.pk}"
