"""A committee nobody can choose, recounted from the export alone: the round bundle at
/rounds/<id>/bundle.json verifies offline (`manage.py verify_round`, no database) with the portal's
own draw, and changing any candidate, any stake or the seed makes it fail."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from ledger.services import block_seal
from quorums import services
from quorums.bundles import InvalidRoundBundle, verify
from quorums.consensus import draw_committee, round_seed
from tests.personas import BOB
from tests.quorums.factories import PROBE, setup_network, signed


@pytest.fixture
def bundle(db, client):
    idao, _quorum, ps = setup_network(5, stakes=[1000, 2000, 3000, 4000, 5000], committee_size=3, threshold_bps=6000)
    block_seal()  # something sealed before the opening: the seed takes that block's hash
    services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="warm", content_hash="0x" + "01" * 32)
    block_seal()
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="b", content_hash="0x" + "02" * 32)
    seated = {s.address for s in r.seats.all()}
    for p in ps:
        if p.address in seated:
            services.verdict_submit(round_id=r.pk, **signed(p, r))
    services.round_close(round_id=r.pk)
    assert client.get(f"/rounds/{r.pk}/bundle.json").status_code == 409  # the close record is not sealed yet
    block_seal()
    response = client.get(f"/rounds/{r.pk}/bundle.json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_round_api_and_page_publish_the_seed_and_the_candidates(client):
    idao, _quorum, _ps = setup_network(4, committee_size=3)
    block_seal()
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="p", content_hash="0x" + "03" * 32)
    detail = client.get(f"/api/v1/rounds/{r.pk}").json()
    assert detail["seed"] == r.seed and len(detail["candidates"]) == 4
    assert {"validator", "address", "stake"} == set(detail["candidates"][0])
    head = detail["seed_block"]
    assert detail["seed"] == round_seed(
        block_hash=head["hash"], quorum_id=r.quorum_id, round_id=r.pk, content_hash=r.content_hash, attempt=1
    )
    drawn = draw_committee(bytes.fromhex(r.seed[2:]), [[c["validator"], c["stake"]] for c in detail["candidates"]], 3)
    assert sorted(drawn) == sorted(r.seats.values_list("validator_id", flat=True))
    page = client.get(f"/rounds/{r.pk}/").content.decode()
    assert r.seed in page and detail["candidates"][0]["address"] in page and "bundle.json" in page
    assert f'href="/rounds/{r.pk}/bundle.json"' not in page  # linked only once it can be exported


def test_an_exported_round_bundle_verifies_and_says_what_it_checked(bundle):
    report = verify(bundle)
    assert report.round_id == bundle["round"] and report.outcome == "accepted"
    assert any("re-drawn" in line for line in report.checks)


def test_changing_any_candidate_makes_verification_fail(bundle):
    for i in range(len(bundle["candidates"])):
        for field in (0, 1):  # the validator id, the address
            tampered = copy.deepcopy(bundle)
            row = tampered["candidates"][i]
            row[field] = row[field] + 1 if field == 0 else row[field][:-1] + ("0" if row[field][-1] != "0" else "1")
            with pytest.raises(InvalidRoundBundle, match=r"candidates|committee"):
                verify(tampered)
    dropped = copy.deepcopy(bundle)
    dropped["candidates"].pop()
    with pytest.raises(InvalidRoundBundle, match="candidates"):
        verify(dropped)


def test_changing_any_stake_makes_verification_fail(bundle):
    for i in range(len(bundle["candidates"])):
        tampered = copy.deepcopy(bundle)
        tampered["candidates"][i][2] += 1
        with pytest.raises(InvalidRoundBundle, match="candidates"):
            verify(tampered)
        # Even a consistent forgery (the bundle and its open record both changed) breaks the proof.
        forged = copy.deepcopy(tampered)
        payload = json.loads(forged["open"]["leaf"]["payload"])
        payload["candidates"] = forged["candidates"]
        forged["open"]["leaf"]["payload"] = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        with pytest.raises(InvalidRoundBundle, match="open record"):
            verify(forged)


def test_changing_the_seed_makes_verification_fail(bundle):
    tampered = copy.deepcopy(bundle)
    tampered["seed"] = tampered["seed"][:-1] + ("0" if tampered["seed"][-1] != "0" else "1")
    with pytest.raises(InvalidRoundBundle, match="seed"):
        verify(tampered)
    block = copy.deepcopy(bundle)
    block["seed_headers"][0]["blockHash"] = "0x" + "ee" * 32
    with pytest.raises(InvalidRoundBundle, match="seed block"):
        verify(block)


def test_a_forged_or_missing_verdict_makes_verification_fail(bundle):
    forged = copy.deepcopy(bundle)
    forged["verdicts"][0]["verdict"] = "reject"
    forged["verdicts"][0]["reason"] = "forged"
    with pytest.raises(InvalidRoundBundle, match="verdict 1"):
        verify(forged)
    missing = copy.deepcopy(bundle)
    missing["verdicts"].pop()
    with pytest.raises(InvalidRoundBundle, match="digest"):
        verify(missing)
    outcome = copy.deepcopy(bundle)
    outcome["outcome"] = "rejected"
    with pytest.raises(InvalidRoundBundle, match="outcome"):
        verify(outcome)


def test_verify_round_command_works_offline_without_any_database(bundle, tmp_path):
    good, bad = tmp_path / f"round-{bundle['round']}.json", tmp_path / "bad.json"
    good.write_text(json.dumps(bundle))
    tampered = copy.deepcopy(bundle)
    tampered["candidates"][0][2] += 1
    bad.write_text(json.dumps(tampered))
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    ok = subprocess.run(
        [sys.executable, manage, "verify_round", str(good)], env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"PASS: round {bundle['round']}")
    refused = subprocess.run(
        [sys.executable, manage, "verify_round", str(bad)], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "FAIL" in refused.stderr and "candidates" in refused.stderr
    assert BOB  # personas import keeps the factories' sequence stable
