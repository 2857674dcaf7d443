"""Treasury proposals: transfers and streams spend the treasury by vote, after the timelock, once;
stewards are bounded by the charter's spend limit; a guardian veto only where the charter allows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from idaos.errors import InvalidInput, OverStewardLimit
from idaos.models import Proposal
from idaos.models_treasury import StreamPayment, TreasuryStream
from idaos.services import proposals, treasury
from ledger import owners
from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from ledger.models import Leaf, Transaction
from rewards.services.credits import credit_grant
from rewards.services.epochs import epoch_close, epoch_current
from tests.celery_helpers import wait_for
from tests.idaos.conftest import make_idao, make_proposal
from tests.idaos.test_beat_and_recount import cast
from tests.personas import ALICE, BOB, CAROL

pytestmark = pytest.mark.django_db


def fund_treasury(idao, amount: int, asset: str = "LAZ") -> None:
    ledger_services.mint(
        to=idao.treasury_owner, asset=asset, amount=amount, idempotency_key=f"test:treasury:{idao.slug}:{asset}"
    )


def passed(idao, *, kind: str, payload: dict) -> Proposal:
    """A proposal of `kind` that BOB voted for and whose voting has closed (passed)."""
    proposal = make_proposal(idao, kind=kind, payload=payload, title=f"{kind} for the team")
    cast(BOB, proposal)
    Proposal.objects.filter(pk=proposal.pk).update(voting_ends_at=timezone.now() - timedelta(seconds=1))
    assert proposals.proposal_close(proposal_id=proposal.pk)
    proposal.refresh_from_db()
    return proposal


def end_timelock(proposal: Proposal) -> None:
    Proposal.objects.filter(pk=proposal.pk).update(execute_after=timezone.now() - timedelta(seconds=1))


def treasury_txs(proposal: Proposal) -> int:
    return Transaction.objects.filter(idempotency_key=f"idaos:proposal:{proposal.pk}:treasury-transfer").count()


@pytest.mark.django_db(transaction=True)
def test_treasury_transfer_waits_its_timelock_then_a_worker_executes_it_once(celery_worker):
    from idaos.tasks import advance_proposals, execute_timelocked_proposals

    idao = make_idao(members=[BOB, CAROL])
    fund_treasury(idao, 1000)
    proposal = make_proposal(
        idao, kind="treasury_transfer", payload={"asset": "LAZ", "amount": "300", "to": CAROL.address}
    )
    cast(BOB, proposal)
    Proposal.objects.filter(pk=proposal.pk).update(voting_ends_at=timezone.now() - timedelta(seconds=1))
    advance_proposals.delay()  # the beat closes it, twice
    advance_proposals.delay()
    wait_for(lambda: Proposal.objects.get(pk=proposal.pk).state == "passed")
    proposal.refresh_from_db()
    assert proposal.execute_after - proposal.closed_at == timedelta(days=1)  # the charter's default delay
    # Inside the delay nothing moves, however often the beat runs (and a second close is a no-op).
    assert not proposals.proposal_close(proposal_id=proposal.pk)
    assert execute_timelocked_proposals() == 0
    assert treasury_txs(proposal) == 0

    end_timelock(proposal)
    execute_timelocked_proposals.delay()
    execute_timelocked_proposals.delay()
    advance_proposals.delay()
    wait_for(lambda: Proposal.objects.get(pk=proposal.pk).state == "executed")
    assert not proposals.proposal_close(proposal_id=proposal.pk)
    assert not proposals.proposal_execute_due(proposal_id=proposal.pk)
    assert execute_timelocked_proposals() == 0

    proposal.refresh_from_db()
    assert treasury_txs(proposal) == 1
    tx = Transaction.objects.get(idempotency_key=f"idaos:proposal:{proposal.pk}:treasury-transfer")
    assert proposal.execution_result == {"ledger_tx": tx.pk}
    assert ledger_selectors.balance(idao.treasury_owner, "LAZ") == 700
    assert ledger_selectors.balance(owners.user(CAROL.address), "LAZ") == 300
    assert Leaf.objects.filter(subject=f"proposal:{proposal.pk}", kind="idao.proposal.execution").count() == 1


def test_treasury_transfer_to_another_idao_moves_credit_between_treasuries():
    idao = make_idao(members=[BOB])
    other = make_idao(slug="open-law")
    fund_treasury(idao, 50, "CREDIT")
    proposal = passed(
        idao, kind="treasury_transfer", payload={"asset": "CREDIT", "amount": 50, "to": "idao:open-law", "memo": "x"}
    )
    end_timelock(proposal)
    assert proposals.proposal_execute_due(proposal_id=proposal.pk)
    assert ledger_selectors.balance(other.treasury_owner, "CREDIT") == 50
    assert ledger_selectors.balance(idao.treasury_owner, "CREDIT") == 0


def test_treasury_that_cannot_pay_fails_execution_with_the_reason_and_is_anchored():
    idao = make_idao(members=[BOB])
    fund_treasury(idao, 10)
    proposal = passed(idao, kind="treasury_transfer", payload={"asset": "LAZ", "amount": "11", "to": BOB.address})
    end_timelock(proposal)
    assert proposals.proposal_execute_due(proposal_id=proposal.pk)
    proposal.refresh_from_db()
    assert proposal.state == "execution_failed"
    assert proposal.execution_error.startswith("insufficient_funds:")
    assert treasury_txs(proposal) == 0
    assert ledger_selectors.balance(idao.treasury_owner, "LAZ") == 10
    leaf = Leaf.objects.get(subject=f"proposal:{proposal.pk}", kind="idao.proposal.execution")
    assert json.loads(leaf.payload_json)["state"] == "execution_failed" and json.loads(leaf.payload_json)[
        "error"
    ].startswith("insufficient_funds")
    assert not proposals.proposal_execute_due(proposal_id=proposal.pk)  # failed once, never retried


def test_a_charter_without_delay_executes_treasury_proposals_at_close():
    idao = make_idao(members=[BOB], execution_delay=0)
    fund_treasury(idao, 5)
    proposal = passed(idao, kind="treasury_transfer", payload={"asset": "LAZ", "amount": "5", "to": BOB.address})
    assert proposal.state == "executed" and proposal.execute_after is None
    assert treasury_txs(proposal) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"asset": "ETH", "amount": "1", "to": BOB.address},
        {"asset": "LAZ", "amount": "0", "to": BOB.address},
        {"asset": "LAZ", "amount": "-5", "to": BOB.address},
        {"asset": "LAZ", "amount": "1e3", "to": BOB.address},
        {"asset": "LAZ", "amount": True, "to": BOB.address},
        {"asset": "LAZ", "amount": str(2**255), "to": BOB.address},
        {"asset": "LAZ", "amount": "1", "to": "0x123"},
        {"asset": "LAZ", "amount": "1", "to": "idao:open-health"},
        {"asset": "LAZ", "amount": "1", "to": "idao:nowhere"},
        {"asset": "LAZ", "amount": "1", "to": BOB.address, "memo": "m" * 201},
        {"asset": "LAZ", "amount": "1", "to": BOB.address, "extra": 1},
        {"asset": "LAZ", "amount": "1"},
    ],
)
def test_bad_treasury_transfer_payloads_are_refused(payload):
    idao = make_idao(members=[BOB])
    with pytest.raises(InvalidInput):
        make_proposal(idao, kind="treasury_transfer", payload=payload)
    assert not Proposal.objects.exists()


def close_epochs(count: int) -> None:
    """Close `count` consecutive reward epochs (each closed at its end)."""
    for _ in range(count):
        epoch = epoch_current(now=timezone.now() - timedelta(days=30) if not _latest() else _latest().ends_at)
        assert epoch_close(epoch_id=epoch.pk, now=epoch.ends_at) is not None


def _latest():
    from rewards.models import Epoch

    return Epoch.objects.order_by("-number").first()


def stream_proposal(idao, *, epochs: int, amount: str = "40") -> Proposal:
    proposal = passed(
        idao,
        kind="treasury_stream",
        payload={"asset": "LAZ", "amount_per_epoch": amount, "epochs": epochs, "to": CAROL.address, "memo": "stipend"},
    )
    if proposal.state == "passed":
        end_timelock(proposal)
        assert proposals.proposal_execute_due(proposal_id=proposal.pk)
        proposal.refresh_from_db()
    assert proposal.state == "executed"
    return proposal


def test_a_stream_pays_exactly_n_epochs_at_the_epoch_close():
    idao = make_idao(members=[BOB, CAROL])
    fund_treasury(idao, 1000)
    proposal = stream_proposal(idao, epochs=3)
    close_epochs(5)
    stream = TreasuryStream.objects.get(proposal=proposal)
    assert stream.paid_epochs == 3 and not stream.live
    assert StreamPayment.objects.filter(stream=stream, ledger_tx_id__isnull=False).count() == 3
    assert ledger_selectors.balance(owners.user(CAROL.address), "LAZ") == 120
    assert ledger_selectors.balance(idao.treasury_owner, "LAZ") == 880
    # Paying the same epoch again (a close repeated by hand) moves nothing.
    assert treasury.streams_pay(epoch_number=_latest().number) == []


def test_a_cancelled_stream_stops_paying():
    idao = make_idao(members=[BOB, CAROL], execution_delay=0)
    fund_treasury(idao, 1000)
    proposal = stream_proposal(idao, epochs=10)
    close_epochs(2)
    cancel = passed(idao, kind="treasury_stream_cancel", payload={"stream_proposal": proposal.pk})
    assert cancel.state == "executed"  # stopping money does not wait
    close_epochs(2)
    stream = TreasuryStream.objects.get(proposal=proposal)
    assert stream.paid_epochs == 2 and stream.cancelled_by_id == cancel.pk
    assert ledger_selectors.balance(owners.user(CAROL.address), "LAZ") == 80
    with pytest.raises(InvalidInput):  # nothing left to cancel
        make_proposal(idao, kind="treasury_stream_cancel", payload={"stream_proposal": proposal.pk})


def test_a_stream_the_treasury_cannot_pay_records_the_refusal_and_pays_when_funded():
    idao = make_idao(members=[BOB, CAROL])
    fund_treasury(idao, 40)
    proposal = stream_proposal(idao, epochs=3)
    close_epochs(2)
    stream = TreasuryStream.objects.get(proposal=proposal)
    refused = StreamPayment.objects.get(stream=stream, ledger_tx_id=None)
    assert refused.error.startswith("insufficient_funds")
    assert stream.paid_epochs == 1


def grant(idao, amount: int, key: str):
    return credit_grant(idao=idao, steward=_user(ALICE), member_address=BOB.address, amount=amount, request_key=key)


def _user(p):
    from tests.factories import user_of

    return user_of(p)


def test_steward_grants_over_the_charter_limit_are_refused_and_move_nothing():
    idao = make_idao(members=[BOB], steward_spend_limit={"LAZ": "0", "CREDIT": "100"})
    fund_treasury(idao, 1000, "CREDIT")
    grant(idao, 60, "g1")
    with pytest.raises(OverStewardLimit) as refused:
        grant(idao, 41, "g2")
    assert refused.value.code == "over_steward_limit" and "treasury_transfer" in refused.value.detail
    assert ledger_selectors.balance(owners.user(BOB.address), "CREDIT") == 60
    assert ledger_selectors.balance(idao.treasury_owner, "CREDIT") == 940
    grant(idao, 40, "g3")  # exactly the limit is allowed


def test_the_default_charter_leaves_credit_grants_unlimited_and_change_charter_sets_a_limit():
    idao = make_idao(members=[BOB], execution_delay=0)
    assert idao.steward_spend_limit == {"LAZ": "0"}
    fund_treasury(idao, 10**6, "CREDIT")
    grant(idao, 10**5, "big")
    change = passed(idao, kind="change_charter", payload={"changes": {"steward_spend_limit": {"CREDIT": "10"}}})
    assert change.state == "executed"
    with pytest.raises(OverStewardLimit):
        grant(idao, 1, "after")


def test_steward_grants_over_the_limit_answer_403_over_steward_limit_on_the_api(client):
    from tests.siwe_helpers import sign_in

    idao = make_idao(members=[BOB], steward_spend_limit={"CREDIT": "5"})
    fund_treasury(idao, 100, "CREDIT")
    sign_in(client, ALICE)
    response = client.post(
        f"/api/v1/rewards/idaos/{idao.slug}/credit-grants",
        {"member": BOB.address, "amount": 6, "idempotency_key": "k1"},
        content_type="application/json",
    )
    assert response.status_code == 403 and response.json()["error"] == "over_steward_limit"
    assert ledger_selectors.balance(owners.user(BOB.address), "CREDIT") == 0


def test_guardian_veto_cancels_in_the_timelock_only_when_the_charter_allows_it():
    from idaos.errors import DomainError

    idao = make_idao(members=[BOB, CAROL])
    fund_treasury(idao, 100)
    proposal = passed(idao, kind="treasury_transfer", payload={"asset": "LAZ", "amount": "10", "to": BOB.address})
    with pytest.raises(DomainError) as refused:
        treasury.proposal_veto(proposal_id=proposal.pk, steward=_user(ALICE), reason="looks wrong")
    assert refused.value.code == "veto_not_allowed"
    type(idao).objects.filter(pk=idao.pk).update(guardian_veto=True)
    with pytest.raises(DomainError) as refused:
        treasury.proposal_veto(proposal_id=proposal.pk, steward=_user(BOB), reason="looks wrong")
    assert refused.value.code == "not_steward"
    vetoed = treasury.proposal_veto(proposal_id=proposal.pk, steward=_user(ALICE), reason="the address is a scam")
    assert vetoed.state == "cancelled" and vetoed.veto_reason == "the address is a scam"
    leaf = Leaf.objects.get(subject=f"proposal:{proposal.pk}", kind="idao.proposal.veto")
    assert json.loads(leaf.payload_json)["steward"] == ALICE.address
    end_timelock(proposal)
    assert not proposals.proposal_execute_due(proposal_id=proposal.pk)
    assert treasury_txs(proposal) == 0
    with pytest.raises(DomainError) as refused:
        treasury.proposal_veto(proposal_id=proposal.pk, steward=_user(ALICE), reason="again")
    assert refused.value.code == "not_in_timelock"


def open_epochs(count: int) -> None:
    """`count` more consecutive reward epochs, all already ended (closed by whoever runs the close)."""
    for _ in range(count):
        latest = _latest()
        epoch_current(now=latest.ends_at if latest else timezone.now() - timedelta(days=30))


@pytest.mark.django_db(transaction=True)
def test_streams_through_the_worker_pay_exactly_n_epochs_and_stop_when_cancelled(celery_worker):
    from rewards.models import Epoch
    from rewards.tasks import close_due_epochs

    idao = make_idao(members=[BOB, CAROL], execution_delay=0)
    fund_treasury(idao, 10_000)
    short = stream_proposal(idao, epochs=2, amount="10")
    long = stream_proposal(idao, epochs=50, amount="100")
    open_epochs(3)
    close_due_epochs.delay()
    close_due_epochs.delay()  # a second close of the same epochs pays nothing more
    wait_for(lambda: not Epoch.objects.filter(state="open").exists())
    cancel = passed(idao, kind="treasury_stream_cancel", payload={"stream_proposal": long.pk})
    assert cancel.state == "executed"
    open_epochs(2)
    close_due_epochs.delay()
    wait_for(lambda: not Epoch.objects.filter(state="open").exists())
    assert TreasuryStream.objects.get(proposal=short).paid_epochs == 2
    assert TreasuryStream.objects.get(proposal=long).paid_epochs == 3
    assert StreamPayment.objects.filter(ledger_tx_id__isnull=False).count() == 5
    assert ledger_selectors.balance(owners.user(CAROL.address), "LAZ") == 2 * 10 + 3 * 100
    assert ledger_selectors.balance(idao.treasury_owner, "LAZ") == 10_000 - 320


@pytest.mark.django_db(transaction=True)
def test_concurrent_steward_grants_cannot_both_fit_under_the_limit():
    from tests.rewards.test_concurrency import _in_threads

    idao = make_idao(members=[BOB], steward_spend_limit={"CREDIT": "100"})
    fund_treasury(idao, 1000, "CREDIT")
    results = _in_threads(2, lambda i: _try_grant(idao, 60, f"race-{i}"))
    assert sorted(results) == ["granted", "over_steward_limit"]
    assert ledger_selectors.balance(owners.user(BOB.address), "CREDIT") == 60


def _try_grant(idao, amount: int, key: str) -> str:
    try:
        grant(idao, amount, key)
    except OverStewardLimit as exc:
        return exc.code
    return "granted"
