"""Score vectors in signed verdicts (EIP-712 ScoredVerdict, version 2) and the round's score: the
stake-weighted median of the committee's vectors, anchored with the outcome, checked against the
quorum's minimums; version 1 verdicts stay verifiable."""

from __future__ import annotations

import json

import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from ledger.models import Leaf
from quorums import services
from quorums.eip712 import publication, scored_verdict_typed_data, verdict_digest
from quorums.errors import BadSignature, InvalidVerdict
from quorums.models import Round, Slash
from quorums.scores import below_minimums, composite, round_scores, weighted_median
from tests.quorums.factories import PROBE, scored, setup_network, signed

HASH = "0x" + "ab" * 32


def _open(idao, ref="1") -> Round:
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref=ref, content_hash=HASH)
    assert r is not None
    return r


def test_weighted_median_ignores_one_outlier_and_weighs_stake():
    assert weighted_median([(9000, 1), (8800, 1), (0, 1)]) == 8800
    assert weighted_median([(9000, 1), (8800, 1), (10_000, 1)]) == 9000
    assert weighted_median([(1000, 5), (9000, 2), (9500, 2)]) == 1000  # a stake majority decides
    assert (
        composite(
            {"authenticity": 10_000, "ownership": 0, "quality": 5000, "uniqueness": 10_000},
            {"authenticity": 3000, "ownership": 0, "quality": 5000, "uniqueness": 2000},
        )
        == 7500
    )
    assert round_scores({}, {1: 10}, {"quality": 10_000}) == {}
    assert below_minimums(
        {"authenticity": 4000, "ownership": 9000, "quality": 0, "uniqueness": 0, "composite": 0}, {"authenticity": 5000}
    ) == ["authenticity"]


def test_publication_carries_both_verdict_versions():
    pub = publication()
    assert pub["primaryType"] == "ScoredVerdict" and pub["criteria"] == [
        "authenticity",
        "ownership",
        "quality",
        "uniqueness",
    ]
    assert [(v["version"], v["primaryType"]) for v in pub["versions"]] == [(1, "Verdict"), (2, "ScoredVerdict")]
    names = [f["name"] for f in pub["types"]["ScoredVerdict"]]
    assert names[-5:] == ["authenticity", "ownership", "quality", "uniqueness", "evidence"]


def test_scored_digest_equals_the_generic_eip712_encoder():
    typed = scored_verdict_typed_data(
        validator="0x" + "11" * 20,
        round_id=7,
        content_hash=HASH,
        verdict="reject",
        reason="pii: x",
        scores={"authenticity": 10_000, "ownership": 1234, "quality": 10_000, "uniqueness": 9000},
        evidence='{"a":1}',
    )
    signable = encode_typed_data(full_message=typed)
    assert verdict_digest(typed) == "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex()


@pytest.mark.django_db
def test_scored_and_version_one_verdicts_are_recorded_and_the_round_score_is_the_median(client):
    idao, _quorum, ps = setup_network(3)
    r = _open(idao)
    services.verdict_submit(round_id=r.pk, **scored(ps[0], r, scores={"quality": 9000}, evidence='{"quality":[]}'))
    services.verdict_submit(round_id=r.pk, **scored(ps[1], r, scores={"quality": 0, "uniqueness": 0}))  # the outlier
    services.verdict_submit(round_id=r.pk, **signed(ps[2], r))  # version 1: no scores, still counted as a vote
    closed = services.round_close(round_id=r.pk)
    assert closed.outcome == "accepted"
    # Two scored vectors of equal stake: the lower median.
    assert closed.scores == {
        "authenticity": 10_000,
        "ownership": 10_000,
        "quality": 0,
        "uniqueness": 0,
        "composite": 3000,
    }
    anchored = json.loads(Leaf.objects.get(pk=closed.anchor_leaf_id).payload_json)
    assert anchored["scores"] == closed.scores
    detail = client.get(f"/api/v1/rounds/{r.pk}").json()
    by = {v["validator"]: v for v in detail["verdicts"]}
    assert by[ps[0].address]["scores"]["quality"] == 9000 and by[ps[0].address]["evidence"] == '{"quality":[]}'
    assert by[ps[2].address]["scores"] is None and detail["scores"] == closed.scores


@pytest.mark.django_db
def test_one_outlier_cannot_move_the_round_score():
    idao, _quorum, ps = setup_network(3)
    r = _open(idao)
    for p, q in zip(ps, (9000, 8800, 0), strict=True):
        services.verdict_submit(round_id=r.pk, **scored(p, r, scores={"quality": q}))
    assert services.round_close(round_id=r.pk).scores["quality"] == 8800


@pytest.mark.django_db
def test_an_approved_subject_below_the_minimums_is_rejected_and_nobody_is_slashed():
    idao, quorum, ps = setup_network(3)
    quorum.score_minimums = {"composite": 8000}
    quorum.save()
    r = _open(idao)
    for p in ps:
        services.verdict_submit(round_id=r.pk, **scored(p, r, scores={"quality": 5000}))
    closed = services.round_close(round_id=r.pk)
    assert (closed.outcome, closed.close_reason, closed.scores["composite"]) == ("rejected", "score_minimum", 7500)
    assert not Slash.objects.filter(round=r).exists()


@pytest.mark.django_db
def test_a_score_outside_basis_points_or_a_forged_score_is_refused():
    idao, _quorum, ps = setup_network(3)
    r = _open(idao)
    with pytest.raises(InvalidVerdict):
        services.verdict_submit(round_id=r.pk, **scored(ps[0], r, scores={"quality": 10_001}))
    body = scored(ps[0], r, scores={"quality": 100})
    body["message"]["quality"] = 10_000  # the validator cannot later claim another score
    with pytest.raises(BadSignature):
        services.verdict_submit(round_id=r.pk, **body)


@pytest.mark.django_db
def test_a_scored_round_bundle_verifies_and_a_changed_score_does_not(client):
    from ledger.services import block_seal
    from quorums.bundles import InvalidRoundBundle, verify

    idao, _quorum, ps = setup_network(3)
    block_seal()
    r = _open(idao)
    for p, q in zip(ps, (9000, 8800, 0), strict=True):
        services.verdict_submit(round_id=r.pk, **scored(p, r, scores={"quality": q}))
    services.round_close(round_id=r.pk)
    block_seal()
    bundle = client.get(f"/rounds/{r.pk}/bundle.json").json()
    assert verify(bundle).outcome == "accepted"
    bundle["verdicts"][0]["scores"]["quality"] = 1
    with pytest.raises(InvalidRoundBundle, match="verdict 1"):
        verify(bundle)
