"""Appeals: the contributor of a rejected decision appeals with a bond in escrow; refusals are
each their own code with nothing moved; two appeals at once make one; the panel is 2n+1 and
disjoint from the first round; overturned and upheld move exactly the hand-computed amounts."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client

from contributions.models import Contribution
from dats.models import DAT
from ledger import owners
from ledger import services as ledger
from ledger.models import Leaf
from ledger.selectors import balance
from portal.errors import DomainError
from quorums import services
from quorums.errors import AppealExists, AppealWindowClosed, NotAppealable, NotContributor
from quorums.models import Appeal, Round, Seat, Slash
from tests.dats.factories import make_contribution
from tests.personas import ALICE, BOB
from tests.quorums.factories import member, scored, setup_network, user_of

BOND = 100


def _credit(p, amount: int, tag: str = "") -> None:
    ledger.mint(
        to=owners.user(p.address), asset="CREDIT", amount=amount, idempotency_key=f"appeal-test:{p.address}:{tag}"
    )


def _rejected(reasons=("pii: 3 of 4 records hold personal data",) * 3, n_validators: int = 10, draw=None, **quorum):
    """A contribution of BOB's, rejected by a first round of three with these reasons (`draw`
    draws its committee first when a public chain seeds it)."""
    quorum.setdefault("committee_size", 3)
    idao, q, ps = setup_network(n_validators, appeal_bond=BOND, appeal_bounty_bps=5000, appeal_fee_bps=1000, **quorum)
    member(idao, BOB)
    c = make_contribution(idao, BOB)
    Contribution.objects.filter(pk=c.pk).update(state="routed")
    r = services.round_open(idao_id=idao.pk, subject_kind="contribution", subject_ref=str(c.pk), content_hash=c.sha256)
    assert r is not None
    if draw is not None:
        r = draw(r)
    Contribution.objects.filter(pk=c.pk).update(round=r)
    by_address = {p.address: p for p in ps}
    seated = [by_address[a] for a in r.seats.order_by("validator_id").values_list("address", flat=True)]
    for p, reason in zip(seated, reasons, strict=True):
        services.verdict_submit(round_id=r.pk, **scored(p, r, "reject", reason, scores={"ownership": 2000}))
    r = services.round_close(round_id=r.pk)
    assert r.outcome == "rejected"
    return idao, q, ps, c, r, seated


def _vote(panel: Round, ps, verdicts: list[str]) -> Round:
    by_address = {p.address: p for p in ps}
    seated = [by_address[a] for a in panel.seats.order_by("validator_id").values_list("address", flat=True)]
    for p, verdict in zip(seated, verdicts, strict=True):
        services.verdict_submit(
            round_id=panel.pk, **scored(p, panel, verdict, "" if verdict == "approve" else "pii: x", scores={})
        )
    return services.round_close(round_id=panel.pk)


@pytest.mark.django_db
def test_refusals_are_each_their_own_code_and_move_nothing():
    _idao, _q, _ps, _c, r, _seated = _rejected()
    with pytest.raises(NotContributor):
        services.appeal_file(round_id=r.pk, user=user_of(ALICE), reason="mine")
    with pytest.raises(DomainError) as err:  # BOB holds no CREDIT
        services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="it is anonymised")
    assert err.value.code == "insufficient_funds"
    assert not Appeal.objects.exists() and Round.objects.filter(appeal_of=r).count() == 0
    _credit(BOB, BOND)
    appeal = services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="it is anonymised")
    assert balance(appeal.escrow_owner, "CREDIT") == BOND and balance(owners.user(BOB.address), "CREDIT") == 0
    _credit(BOB, BOND, "again")
    with pytest.raises(AppealExists):
        services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="again")
    assert balance(owners.user(BOB.address), "CREDIT") == BOND and Appeal.objects.count() == 1
    with pytest.raises(NotAppealable):  # the panel's round is still open
        services.appeal_file(round_id=appeal.appeal_round_id, user=user_of(BOB), reason="early")
    listed = Client().get(f"/api/v1/quorums/{r.quorum_id}/appeals").json()
    assert [(a["round"], a["state"], a["bond"]) for a in listed] == [(r.pk, "open", BOND)]
    assert f"/rounds/{appeal.appeal_round_id}/" in Client().get(f"/quorums/{r.quorum_id}/").content.decode()


@pytest.mark.django_db
def test_an_appeal_after_the_window_is_refused_by_database_time(client):
    _idao, _q, _ps, _c, r, _seated = _rejected()
    _credit(BOB, BOND)
    client.force_login(user_of(BOB))
    page = client.get("/contributions/mine").content.decode()
    assert 'data-testid="appeal-form"' in page and "71 more hours" in page  # 3 days less a few seconds
    assert page.count('data-testid="validator-score"') == 3 and "pii: 3 of 4 records" in page
    Round.objects.filter(pk=r.pk).update(closed_at=r.closed_at - timedelta(days=3, seconds=1))
    with pytest.raises(AppealWindowClosed):
        services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="late")
    assert balance(owners.user(BOB.address), "CREDIT") == BOND and not Appeal.objects.exists()
    assert 'data-testid="appeal-form"' not in client.get("/contributions/mine").content.decode()


@pytest.mark.django_db
def test_the_panel_is_larger_and_disjoint_and_an_upheld_appeal_pays_treasury_and_panel_fee(client):
    idao, _q, ps, c, r, _seated = _rejected()
    _credit(BOB, BOND)
    appeal = services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="nothing personal in it")
    panel = appeal.appeal_round
    assert panel.seats.count() == 7 and panel.appeal_level == 1 and panel.appeal_of_id == r.pk
    assert not set(panel.seats.values_list("validator_id", flat=True)) & set(
        r.seats.values_list("validator_id", flat=True)
    )
    treasury_credit = balance(idao.treasury_owner, "CREDIT")
    sealed = client.get(f"/api/v1/rounds/{r.pk}").json()
    assert sealed["verdicts_sealed"] is True and sealed["verdicts"] == []  # until the panel has voted
    assert client.get(f"/rounds/{r.pk}/bundle.json").json()["error"] == "verdicts_sealed"
    closed = _vote(panel, ps, ["reject"] * 6 + ["approve"])
    assert len(client.get(f"/api/v1/rounds/{r.pk}").json()["verdicts"]) == 3
    appeal.refresh_from_db()
    assert (closed.outcome, appeal.state) == ("rejected", "upheld")
    # Fee 10% of 100 = 10 CREDIT over the six rejecting seats of equal stake: floor(10·1000/6000) = 1 each;
    # the treasury takes the other 94.
    assert len(appeal.outcome["fees"]) == 6 and all(share == 1 for _, share in appeal.outcome["fees"])
    assert balance(idao.treasury_owner, "CREDIT") == treasury_credit + 94
    assert balance(appeal.escrow_owner, "CREDIT") == 0
    assert json.loads(Leaf.objects.get(pk=appeal.anchor_leaf_id).payload_json)["state"] == "upheld"
    assert Contribution.objects.get(pk=c.pk).state == "rejected" and not DAT.objects.exists()
    # The panel's round re-derives offline like any round (its seed, the disjoint candidates, the 7 drawn).
    from ledger.services import block_seal
    from quorums.bundles import verify

    block_seal()
    assert verify(client.get(f"/rounds/{panel.pk}/bundle.json").json()).outcome == "rejected"
    # The panel's chain shows on the round page.
    page = client.get(f"/rounds/{panel.pk}/").content.decode()
    assert f"/rounds/{r.pk}/" in page and "appeal" in page.lower()


@pytest.mark.django_db
def test_an_overturned_rejection_mints_returns_the_bond_with_a_bounty_and_slashes_only_objective_faults():
    reasons = ("pii: 3 of 4 records", "pii: 3 of 4 records", "type_mismatch: the bytes are binary data")
    idao, _q, ps, c, r, seated = _rejected(reasons)
    _credit(BOB, BOND)
    appeal = services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="a plain CSV without personal data")
    treasury_laz = balance(idao.treasury_owner, "LAZ")
    _vote(appeal.appeal_round, ps, ["approve"] * 7)
    appeal.refresh_from_db()
    assert appeal.state == "overturned"
    # Only the type_mismatch claim is an objective fault: 10% (the minority rate) of its 1000 seat stake.
    [slash] = Slash.objects.filter(reason="overturned")
    assert (slash.validator.address, int(slash.amount)) == (seated[2].address, 100)
    # Bond back (100 CREDIT) and a bounty of 50% of the slashes (50 LAZ) from the treasury.
    assert balance(owners.user(BOB.address), "CREDIT") == BOND
    assert balance(owners.user(BOB.address), "LAZ") == 50
    assert balance(idao.treasury_owner, "LAZ") == treasury_laz + 100 - 50
    assert appeal.outcome == {
        "bond": ["CREDIT", BOND],
        "bond_to": "appellant",
        "bounty": 50,
        "slashes": [[seated[2].address, 100]],
        "fees": [],
    }
    c.refresh_from_db()
    assert c.state == "accepted" and c.round_id == appeal.appeal_round_id
    assert DAT.objects.get(contribution=c).round_id == appeal.appeal_round_id


@pytest.mark.django_db(transaction=True)
def test_two_appeals_of_one_decision_at_once_make_one_appeal():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    _idao, _q, _ps, _c, r, _seated = _rejected()
    _credit(BOB, 2 * BOND)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def appeal() -> None:
        try:
            barrier.wait()
            results.append(services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="race"))
        except DomainError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=appeal) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(x) if isinstance(x, str) else "appeal" for x in results) == ["appeal", "appeal_exists"]
    assert Appeal.objects.count() == 1 and Round.objects.filter(appeal_of=r).count() == 1
    assert balance(owners.user(BOB.address), "CREDIT") == BOND


@pytest.mark.django_db
def test_a_second_level_appeal_draws_a_panel_disjoint_from_both_earlier_rounds_and_is_final():
    from quorums.errors import AppealFinal

    # 3 first seats + 7 + 15 panel seats: 25 validators, each round disjoint from all before it.
    _idao, _q, ps, _c, r, _seated = _rejected(n_validators=25)
    _credit(BOB, 3 * BOND)
    first = services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="level one")
    panel1 = _vote(first.appeal_round, ps, ["reject"] * 7)
    second = services.appeal_file(round_id=panel1.pk, user=user_of(BOB), reason="level two")
    panel2 = second.appeal_round
    earlier = set(Seat.objects.filter(round__in=[r, panel1]).values_list("validator_id", flat=True))
    assert second.level == 2 and panel2.seats.count() == 15
    assert not set(panel2.seats.values_list("validator_id", flat=True)) & earlier
    _vote(panel2, ps, ["reject"] * 15)
    with pytest.raises(AppealFinal):
        services.appeal_file(round_id=panel2.pk, user=user_of(BOB), reason="level three")
    assert balance(owners.user(BOB.address), "CREDIT") == BOND  # two bonds kept by the treasury, the third never taken


@pytest.mark.django_db
def test_a_low_scored_acceptance_appealed_and_rescored_updates_the_dat_and_slashes_nobody():
    idao, _q, ps = setup_network(10, committee_size=3, appeal_bond=BOND, score_low_bps=7000)
    member(idao, BOB)
    c = make_contribution(idao, BOB)
    r = services.round_open(idao_id=idao.pk, subject_kind="contribution", subject_ref=str(c.pk), content_hash=c.sha256)
    Contribution.objects.filter(pk=c.pk).update(round=r, state="routed")
    by_address = {p.address: p for p in ps}
    for a in r.seats.values_list("address", flat=True):
        services.verdict_submit(round_id=r.pk, **scored(by_address[a], r, scores={"quality": 2000}))
    r = services.round_close(round_id=r.pk)
    # 0.3·10000 (authenticity) + 0.5·2000 (quality) + 0.2·10000 (uniqueness) = 6000 < score_low_bps 7000
    assert r.outcome == "accepted" and r.scores["composite"] == 6000
    dat = DAT.objects.get(contribution=c)  # minted by the accepted round's hook
    _credit(BOB, BOND)
    appeal = services.appeal_file(round_id=r.pk, user=user_of(BOB), reason="the quality is better than that")
    panel = appeal.appeal_round
    for a in panel.seats.values_list("address", flat=True):
        services.verdict_submit(round_id=panel.pk, **scored(by_address[a], panel, scores={"quality": 9000}))
    services.round_close(round_id=panel.pk)
    appeal.refresh_from_db()
    assert appeal.state == "overturned" and not Slash.objects.exists()
    assert balance(owners.user(BOB.address), "CREDIT") == BOND
    dat.refresh_from_db()
    assert dat.scores["quality"] == 9000 and dat.round_id == r.pk and DAT.objects.filter(contribution=c).count() == 1
