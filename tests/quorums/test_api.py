from __future__ import annotations

import pytest

from quorums import services
from quorums.models import Verdict
from tests.personas import BOB, MALLORY
from tests.quorums.factories import PROBE, setup_network, signed


def url(r) -> str:
    return f"/api/v1/rounds/{r.pk}/verdicts"


@pytest.mark.django_db
def test_verdict_api_refuses_each_bad_verdict_with_a_clear_error(signed_in):
    idao, _quorum, ps = setup_network(3, threshold_bps=6000)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="a", content_hash="0x" + "01" * 32)
    other = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="b", content_hash="0x" + "02" * 32)
    v = signed_in(ps[0])
    outsider = signed_in(MALLORY).post(url(r), signed(MALLORY, r), content_type="application/json")
    assert outsider.status_code == 403 and outsider.json()["error"] == "not_in_committee"
    wrong = v.post(url(other), signed(ps[0], r), content_type="application/json")
    assert wrong.status_code == 422 and wrong.json()["error"] == "verdict_wrong_round"
    no_reason = v.post(url(r), signed(ps[0], r, "reject", ""), content_type="application/json")
    assert no_reason.status_code == 422 and no_reason.json()["error"] == "invalid_verdict"
    assert v.post(url(r), signed(ps[0], r), content_type="application/json").status_code == 201
    equivocation = v.post(url(r), signed(ps[0], r, "reject", "on reflection"), content_type="application/json")
    assert equivocation.status_code == 409 and equivocation.json()["error"] == "equivocation"
    for p in ps[1:]:
        services.verdict_submit(round_id=r.pk, **signed(p, r))
    services.round_close(round_id=r.pk)
    late = signed_in(ps[1]).post(url(r), signed(ps[1], r, "reject", "too late"), content_type="application/json")
    assert late.status_code == 409 and late.json()["error"] == "round_closed"
    detail = signed_in(BOB).get(f"/api/v1/rounds/{r.pk}").json()
    assert detail["outcome"] == "accepted" and len(detail["verdicts"]) == 4 and detail["proof"]


@pytest.mark.django_db
def test_bonding_over_the_api_moves_laz_into_escrow(signed_in):
    from ledger import owners
    from ledger.selectors import balance
    from tests.quorums.factories import QuorumFactory, fund

    quorum = QuorumFactory(min_bond=100)
    fund(BOB, 500)
    client = signed_in(BOB)
    small = client.post(f"/api/v1/quorums/{quorum.pk}/bond", {"amount": 50}, content_type="application/json")
    assert small.status_code == 422 and small.json()["error"] == "bond_too_small"
    ok = client.post(f"/api/v1/quorums/{quorum.pk}/bond", {"amount": 300}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["stake"] == 300
    assert balance(owners.escrow(quorum.pk), "LAZ") == 300 and balance(owners.user(BOB.address), "LAZ") == 200
    un = client.post(f"/api/v1/quorums/{quorum.pk}/unbond", {"amount": 100}, content_type="application/json")
    assert un.status_code == 200
    assert services.unbonds_release_due() == 0  # the unbonding delay has not passed
    assert balance(owners.escrow(quorum.pk), "LAZ") == 300


@pytest.mark.django_db
def test_demo_validators_are_funded_bonded_and_their_keys_sign_rounds_through():
    from quorums.eip712 import sign_verdict, verdict_typed_data
    from quorums.models import QuorumTrust
    from tests.quorums.factories import IdaoFactory, QuorumFactory

    idao, quorum = IdaoFactory(), QuorumFactory(committee_size=3)
    QuorumTrust.objects.create(idao=idao, quorum=quorum)
    accounts = services.demo_validators(quorum_id=quorum.pk, count=3)
    assert services.demo_validators(quorum_id=quorum.pk, count=3) == accounts  # idempotent
    r = services.round_open(
        idao_id=idao.pk,
        subject_kind=PROBE,
        subject_ref="demo",
        content_hash="0x" + __import__("hashlib").sha256(b"probe demo").hexdigest(),
    )
    items = []
    for account in accounts:  # what each demo node (python -m validator with its key) signs
        typed = verdict_typed_data(
            validator=account.address, round_id=r.pk, content_hash=r.content_hash, verdict="approve", reason=""
        )
        items.append({"round_id": r.pk, "message": typed["message"], "signature": sign_verdict(account.key, typed)})
    assert not any(isinstance(x, Exception) for x in services.verdicts_submit(items=items, automated=True))
    assert services.round_close(round_id=r.pk).outcome == "accepted"


@pytest.mark.django_db
def test_verdict_batch_api_answers_each_item_and_records_the_good_ones(signed_in):
    idao, _quorum, ps = setup_network(3)
    a = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="a", content_hash="0x" + "01" * 32)
    b = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="b", content_hash="0x" + "02" * 32)
    items = [
        {"round": a.pk, **signed(ps[0], a)},
        {"round": b.pk, **signed(ps[0], b)},
        {"round": a.pk, **signed(MALLORY, a)},
        {"round": b.pk, **signed(ps[1], a)},
        {"round": a.pk, **signed(ps[0], a, "reject", "second thoughts")},
    ]
    r = signed_in(ps[0]).post("/api/v1/verdicts", {"verdicts": items}, content_type="application/json")
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 201, 403, 422, 409]
    assert [x.get("error") for x in results[2:]] == ["not_in_committee", "verdict_wrong_round", "equivocation"]
    assert Verdict.objects.filter(round=a).count() == 2 and Verdict.objects.filter(round=b).count() == 1
    too_many = signed_in(ps[0]).post("/api/v1/verdicts", {"verdicts": items * 21}, content_type="application/json")
    assert too_many.status_code == 422 and too_many.json()["error"] == "too_many_verdicts"
