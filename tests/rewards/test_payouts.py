from __future__ import annotations

import pytest
from django.db.models import Sum

from ledger import owners
from ledger import selectors as ledger_selectors
from ledger.models import Leaf, Transaction
from rewards.models import Payout
from rewards.services.epochs import epoch_close
from tests.personas import ALICE, BOB, CAROL, DAVE

from .conftest import current_epoch, event


def _by_recipient(epoch, asset):
    rows = Payout.objects.filter(epoch=epoch, asset=asset).values("recipient").annotate(total=Sum("amount"))
    return {r["recipient"]: int(r["total"]) for r in rows}


def test_small_epoch_pays_the_hand_computed_amounts(world):
    world.report([event(world.model, 3000), event(world.agent, 1000)])
    epoch = current_epoch()
    closed = epoch_close(epoch_id=epoch.pk, now=epoch.ends_at)
    assert closed is not None
    u = owners.user
    # LAZ 1,000,000: A's share 750,000 (3,000,000 of 4,000,000 attributed weight), B's 250,000.
    # A: contributors 525,000 (dm 30% = 157,500; d1, d2, d3 122,500 each), validators 75,000
    # (3:1 between carol and dave on each DAT), treasury 150,000. B: bob 150,000, carol alone
    # approved e1: 25,000, treasury 75,000.
    assert _by_recipient(epoch, "LAZ") == {
        u(ALICE.address): 245_000,
        u(BOB.address): 272_500,
        u(DAVE.address): 157_500 + 5_625 + 3 * 4_375,
        u(CAROL.address): 16_875 + 3 * 13_125 + 25_000,
        "idao:alpha": 150_000,
        "idao:beta": 75_000,
    }
    # CREDIT 4,000 (the fees): floors leave 4 units of A's validator share to A's treasury.
    assert _by_recipient(epoch, "CREDIT") == {
        u(ALICE.address): 980,
        u(BOB.address): 490 + 600,
        u(DAVE.address): 630 + 22 + 3 * 17,
        u(CAROL.address): 67 + 3 * 52 + 100,
        "idao:alpha": 604,
        "idao:beta": 300,
    }
    assert ledger_selectors.balance(u(ALICE.address), "LAZ") == 245_000
    assert ledger_selectors.balance(owners.REWARD_POOL, "LAZ") == 0
    assert ledger_selectors.balance(owners.REWARD_POOL, "CREDIT") == 0


def test_payouts_sum_exactly_to_the_pool(world):
    world.report([event(world.model, 3001), event(world.agent, 997), event(world.model, 7, kind="training")])
    epoch = current_epoch()
    closed = epoch_close(epoch_id=epoch.pk, now=epoch.ends_at)
    totals = dict(Payout.objects.filter(epoch=closed).values_list("asset").annotate(s=Sum("amount")))
    assert {k: int(v) for k, v in totals.items()} == {"LAZ": 1_000_000, "CREDIT": 3001 + 997 + 70}
    assert int(closed.pool_credit) == 3001 + 997 + 70


def test_the_epoch_is_one_ledger_batch_and_anchored(world):
    world.report([event(world.model, 3000), event(world.agent, 1000)])
    epoch = epoch_close(epoch_id=current_epoch().pk, now=current_epoch().ends_at)
    tx = Transaction.objects.get(pk=epoch.payout_tx_id)
    assert tx.kind == "reward" and tx.idempotency_key == f"rewards:epoch:{epoch.number}:payouts"
    assert tx.postings.count() == 6 * 2 + 2  # six recipients in two assets, the pool once per asset
    anchor = Leaf.objects.get(pk=epoch.anchor_leaf_id)
    assert anchor.kind == "rewards.epoch" and epoch.payouts_root in anchor.payload_json
    assert epoch.payout_leaf_id == tx.leaf.pk


def test_closing_twice_pays_once(world):
    world.report([event(world.model, 3000)])
    epoch = current_epoch()
    assert epoch_close(epoch_id=epoch.pk, now=epoch.ends_at) is not None
    assert epoch_close(epoch_id=epoch.pk, now=epoch.ends_at) is None
    assert Payout.objects.filter(epoch=epoch).count() > 0
    assert Transaction.objects.filter(kind="reward").count() == 1
    assert ledger_selectors.balance(owners.user(ALICE.address), "LAZ") == 2 * 1_000_000 * 7000 // 10000 * 7 // 30


def test_an_open_epoch_cannot_close_before_it_ends(world):
    world.report([event(world.model, 3000)])
    epoch = current_epoch()
    assert epoch_close(epoch_id=epoch.pk, now=epoch.starts_at) is None
    assert Payout.objects.count() == 0


def test_an_epoch_without_usage_mints_and_pays_nothing(world):
    from rewards.services.epochs import epoch_current

    epoch = epoch_current(now=world.a.created_at)
    closed = epoch_close(epoch_id=epoch.pk, now=epoch.ends_at)
    assert closed.pool_laz == 0 and closed.payout_tx_id is None and closed.anchor_leaf_id is not None
    assert ledger_selectors.balance(owners.REWARD_POOL, "LAZ") == 0


def test_the_hand_encoded_payout_leaf_matches_the_standard_merkle_tree_encoding():
    from ledger import merkle
    from rewards.rules import PAYOUT_LEAF_TYPES, payout_leaf, payout_values

    for row in [
        (7, 1, "user:0x" + "Ab" * 20, "LAZ", "contributor", 12, 10**24),
        (1, 99, "idao:a-very-long-slug-" * 3, "CREDIT", "treasury", None, 5),
    ]:
        assert payout_leaf(*row) == merkle.leaf_hash(PAYOUT_LEAF_TYPES, payout_values(*row))


def test_a_payout_proof_verifies_against_the_anchored_root(world, client):
    from ledger import merkle

    world.report([event(world.model, 3000), event(world.agent, 1000)])
    epoch = epoch_close(epoch_id=current_epoch().pk, now=current_epoch().ends_at)
    payout = Payout.objects.filter(epoch=epoch).order_by("-id").first()
    bundle = client.get(f"/earnings/epochs/{epoch.number}/payouts/{payout.pk}/proof.json").json()
    leaf = merkle.from_hex(bundle["leaf"])
    assert (
        merkle.to_hex(merkle.process_proof(leaf, [merkle.from_hex(p) for p in bundle["proof"]])) == epoch.payouts_root
    )
    assert bundle["root"] == epoch.payouts_root and bundle["anchorLeafId"] == epoch.anchor_leaf_id


def test_a_close_that_cannot_pay_leaves_the_epoch_open_and_nothing_written(world):
    from ledger.errors import InsufficientFunds
    from rewards.models import Epoch, UsageEvent, UsageReport
    from rewards.services.metering import epoch_usage_add

    world.report([event(world.model, 3000)])
    epoch = current_epoch()
    # Fees recorded without their transfer: the pool cannot pay the CREDIT, so the close must roll back.
    report = UsageReport.objects.create(reporter=world.pipeline, payer="user:x", epoch=epoch, received=1)
    UsageEvent.objects.create(
        reporter=world.pipeline,
        idempotency_key="unpaid",
        report=report,
        epoch=epoch,
        idao=world.a,
        model_version=world.model,
        kind="inference",
        units=10,
        weighted=10,
        fee=10,
        occurred_at=epoch.starts_at,
    )
    epoch_usage_add(report_id=report.pk)
    with pytest.raises(InsufficientFunds):
        epoch_close(epoch_id=epoch.pk, now=epoch.ends_at)
    assert Epoch.objects.get(pk=epoch.pk).state == "open"
    assert not Payout.objects.exists() and not Transaction.objects.filter(kind="reward").exists()
    assert ledger_selectors.balance(owners.REWARD_POOL, "LAZ") == 0
