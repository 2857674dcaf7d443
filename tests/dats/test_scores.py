"""A DAT records its validation round's score: on the DAT, in its anchored mint record, its page,
its JSON and its provenance bundle (which refuses a mint score that is not the round's)."""

from __future__ import annotations

import json

import pytest

from dats.bundles import verify
from ledger.models import Leaf
from ledger.services import block_seal
from tests.dats.factories import make_idao, minted
from tests.personas import ALICE, BOB

SCORES = {"authenticity": 10_000, "ownership": 9000, "quality": 8000, "uniqueness": 7000, "composite": 8400}


@pytest.mark.django_db
def test_a_dat_records_its_score_on_its_page_json_and_bundle(client):
    dat = minted(make_idao(ALICE), BOB, scores=SCORES)
    assert dat.scores == SCORES and dat.score_bps == 8400
    assert json.loads(Leaf.objects.get(pk=dat.anchor_leaf_id).payload_json)["scores"] == SCORES
    page = client.get(f"/dats/{dat.pk}/").content.decode()
    assert 'data-testid="dat-score"' in page and "84%" in page
    assert client.get(f"/api/v1/dats/{dat.pk}").json()["scores"] == SCORES
    block_seal()
    bundle = client.get(f"/dats/{dat.pk}/bundle.json").json()
    verify(bundle)  # raises InvalidBundle on any mismatch
    assert json.loads(bundle["dats"][0]["mint"]["leaf"]["payload"])["scores"] == SCORES
