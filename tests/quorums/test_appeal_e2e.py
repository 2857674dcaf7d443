"""End to end on PostgreSQL and a real Celery worker: a PII-flagged upload is rejected by its
committee (two honest PII findings with the node's own checks and scores, one false objective
claim), the contributor appeals through the API, a larger disjoint panel (7 of 10) sees the
appeal round in its assignments and overturns the decision; the bond, the bounty and the slash
are exactly the hand-computed amounts, the DAT is minted and the decision is anchored."""

from __future__ import annotations

import io
import json

import pytest

from contributions.models import Contribution
from dats.models import DAT
from ledger import owners
from ledger import services as ledger
from ledger.models import Leaf
from ledger.proofs import verify_proof
from ledger.selectors import balance, proof_bundle
from ledger.services import block_seal
from quorums.models import Appeal, Round, Slash
from tests.celery_helpers import wait_for
from tests.personas import BOB
from tests.quorums.factories import member, scored, setup_network
from validator.checks import Content, Expected, decide, run_all
from validator.scoring import evidence_json, score_vector, scores_of

pytestmark = pytest.mark.django_db(transaction=True)

PII_CSV = b"id,name,contact\n" + b"".join(f"{i},Person {i},person{i}@example.com\n".encode() for i in range(1, 9))


def _post(client, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_a_pii_rejection_appealed_to_a_larger_disjoint_panel_is_overturned_with_exact_amounts(
    broker, celery_worker, signed_in, tmp_path
):
    idao, _quorum, ps = setup_network(
        10, committee_size=3, appeal_bond=100, appeal_bounty_bps=5000, slash_minority_bps=1000
    )
    member(idao, BOB)
    f = io.BytesIO(PII_CSV)
    f.name = "people.csv"
    bob = signed_in(BOB)
    up = bob.post(
        "/api/v1/contributions/upload",
        {
            "idao": idao.slug,
            "kind": "dataset",
            "title": "People",
            "licence": "CC-BY-4.0",
            "allowed_uses": ["training"],
            "file": f,
        },
    )
    assert up.status_code == 201, up.content
    c = wait_for(lambda: Contribution.objects.filter(public_id=up.json()["id"], state="routed").first())
    first = c.round
    # The node's own checks on the bytes: PII, with its score vector and evidence.
    content = Content.from_bytes(PII_CSV, tmp_path / "people.csv", name="people.csv")
    results = run_all(content, Expected(content_hash=content.sha256, size=content.size))
    verdict, reason = decide(results)
    vector = score_vector(results)
    assert verdict == "reject" and reason.startswith("pii:")
    by_address = {p.address: p for p in ps}
    seated = [by_address[a] for a in first.seats.order_by("validator_id").values_list("address", flat=True)]
    for i, p in enumerate(seated):
        if i < 2:  # honest: a subjective finding
            body = scored(p, first, "reject", reason, scores=scores_of(vector), evidence=evidence_json(vector))
        else:  # a false objective claim anyone can re-check
            body = scored(p, first, "reject", "type_mismatch: the bytes are binary data", scores={"authenticity": 0})
        assert _post(signed_in(p), f"/api/v1/rounds/{first.pk}/verdicts", body).status_code == 201
    c = wait_for(lambda: Contribution.objects.filter(pk=c.pk, state="rejected").first())
    first.refresh_from_db()
    assert first.scores["ownership"] == scores_of(vector)["ownership"]  # the honest majority's median

    # Without funds: refused, nothing moved. Then funded, the appeal is filed.
    refused = _post(bob, f"/api/v1/rounds/{first.pk}/appeal", {"reason": "the addresses are synthetic"})
    assert (refused.status_code, refused.json()["error"]) == (409, "insufficient_funds")
    ledger.mint(to=owners.user(BOB.address), asset="CREDIT", amount=100, idempotency_key="e2e-appeal-credit")
    filed = _post(bob, f"/api/v1/rounds/{first.pk}/appeal", {"reason": "the addresses are synthetic"})
    assert filed.status_code == 201, filed.content
    appeal = Appeal.objects.get(pk=filed.json()["id"])
    assert balance(appeal.escrow_owner, "CREDIT") == 100 and balance(owners.user(BOB.address), "CREDIT") == 0
    panel = Round.objects.get(pk=appeal.appeal_round_id)
    panel_seats = list(panel.seats.order_by("validator_id").values_list("address", flat=True))
    assert len(panel_seats) == 7 and not set(panel_seats) & {p.address for p in seated}

    treasury_laz = balance(idao.treasury_owner, "LAZ")
    for address in panel_seats[:5]:  # 5 of 7 equal stakes pass the 6667 bps threshold: the worker closes it
        p = by_address[address]
        client = signed_in(p)
        assert panel.pk in [a["round"] for a in client.get("/api/v1/validator/assignments").json()]
        body = scored(p, panel, "approve", "ok: the contact column is synthetic", scores={"ownership": 9000})
        assert _post(client, f"/api/v1/rounds/{panel.pk}/verdicts", body).status_code == 201
    appeal = wait_for(lambda: Appeal.objects.filter(pk=appeal.pk, state="overturned").first())

    # Hand-computed: the false type_mismatch claim is slashed at the minority rate, 10% of its
    # 1000 seat stake = 100 LAZ, to the treasury; the bounty is 50% of it, 50 LAZ, to Bob; the
    # two PII findings (subjective) are not slashed; the 100 CREDIT bond comes back.
    [slash] = Slash.objects.filter(round=first)
    assert (slash.reason, slash.validator.address, int(slash.amount)) == ("overturned", seated[2].address, 100)
    assert balance(owners.user(BOB.address), "CREDIT") == 100 and balance(owners.user(BOB.address), "LAZ") == 50
    assert balance(idao.treasury_owner, "LAZ") == treasury_laz + 50 and balance(appeal.escrow_owner, "CREDIT") == 0
    c = Contribution.objects.get(pk=c.pk)
    assert c.state == "accepted" and DAT.objects.get(contribution=c).round_id == panel.pk
    block_seal()
    leaf = Leaf.objects.get(pk=appeal.anchor_leaf_id)
    decision = json.loads(leaf.payload_json)
    assert (decision["state"], decision["bounty"], decision["slashes"]) == (
        "overturned",
        50,
        [[seated[2].address, 100]],
    )
    assert verify_proof(proof_bundle(leaf.pk))
