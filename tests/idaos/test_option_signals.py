"""Signals with several options (docs/governance.md "Signals with several options"): the
OptionBallot type, a hand-computed instant runoff over 50 signed ballots recounted offline, the
API's creation and refusals, single and approval tallies, and delegated weight following the
delegate's ballot."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from idaos import eip712, recount
from idaos.models import Ballot, Proposal
from idaos.selectors import live_tally
from idaos.services import ballots, proposals
from ledger.services import block_seal
from tests.idaos.conftest import ballot, make_idao, make_proposal, user_of
from tests.idaos.test_delegation_resolution import delegate, staked_idao
from tests.personas import ALICE, BOB, CAROL, DAVE, many

pytestmark = pytest.mark.django_db

LABELS = ["Ada", "Babbage", "Curie", "Dijkstra", "Euler"]


def option_ballot(p, proposal, options, *, ts=None, reason=""):
    message = {
        "voter": p.address,
        "idao": proposal.idao.slug,
        "proposal": proposal.pk,
        "options": options,
        "reason": reason,
        "timestamp": ts if ts is not None else int(time.time()),
    }
    return {"message": message, "signature": p.sign_typed(eip712.typed_data(message))}


def cast(p, proposal, options, *, ts=None):
    body = option_ballot(p, proposal, options, ts=ts)
    return ballots.ballot_cast(
        proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(p)
    )


def signal(idao, method, labels=LABELS):
    return make_proposal(idao, payload={"options": list(labels), "method": method}, title=f"Pick ({method})")


def close(proposal) -> Proposal:
    proposal.refresh_from_db()
    assert proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)
    proposal.refresh_from_db()
    return proposal


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_the_option_ballot_fast_digest_is_the_generic_eip712_digest():
    message = {
        "voter": BOB.address,
        "idao": "open-health",
        "proposal": 7,
        "options": [3, 0, 9],
        "reason": "r",
        "timestamp": 1_800_000_000,
    }
    assert "0x" + eip712.fast_digest(message).hex() == eip712.digest(message)
    signature = BOB.sign_typed(eip712.typed_data(message))
    assert eip712.verify(message, signature)[0] == BOB.address
    published = Client().get("/governance/eip712.json").json()
    assert published["primaryType"] == "Ballot"  # version 1 unchanged, beside version 2
    assert published["option_ballot"]["primaryType"] == "OptionBallot"
    assert published["option_ballot"]["types"]["OptionBallot"][3] == {"name": "options", "type": "uint8[]"}


# The ranked-choice acceptance case: 5 options, 50 members, 50 counted ballots (plus one superseded).
# Ada=0 Babbage=1 Curie=2 Dijkstra=3 Euler=4; (ranking, how many ballots).
GROUPS = [([0, 1, 2], 14), ([1, 2, 0], 12), ([2, 1, 0], 10), ([3, 2, 1], 6), ([4, 3, 2], 5), ([4], 3)]
# By hand: 50 ballots, a majority needs more than half of the round's continuing ballots.
# Round 1: Ada 14, Babbage 12, Curie 10, Dijkstra 6, Euler 3+5=8; no majority (>25): Dijkstra is last.
# Round 2: Dijkstra's 6 go to Curie (their next): Ada 14, Babbage 12, Curie 16, Euler 8: Euler is last.
# Round 3: Euler's 5 skip Dijkstra (out) to Curie; Euler's 3 rank nobody else and are exhausted:
#          Ada 14, Babbage 12, Curie 21 of 47 continuing (>23.5 needed): Babbage is last.
# Round 4: Babbage's 12 go to Curie: Ada 14, Curie 33 of 47: Curie wins (Ada led the first round).
EXPECTED_ROUNDS = [
    {"counts": ["14", "12", "10", "6", "8"], "continuing": "50", "exhausted": "0", "winner": None, "eliminated": 3},
    {"counts": ["14", "12", "16", None, "8"], "continuing": "50", "exhausted": "0", "winner": None, "eliminated": 4},
    {"counts": ["14", "12", "21", None, None], "continuing": "47", "exhausted": "3", "winner": None, "eliminated": 1},
    {"counts": ["14", None, "33", None, None], "continuing": "47", "exhausted": "3", "winner": 2, "eliminated": None},
]


@pytest.fixture
def ranked_export():
    voters = [ALICE, *many(49)]
    idao = make_idao(members=voters[1:], quorum_bps=5000)
    proposal = signal(idao, "ranked")
    now = int(time.time())
    rankings = [ranking for ranking, n in GROUPS for _ in range(n)]
    assert len(rankings) == len(voters) == 50
    cast(voters[0], proposal, [4], ts=now)  # changes her mind: only her later ballot counts
    for voter, ranking in zip(voters, rankings, strict=True):
        cast(voter, proposal, ranking, ts=now + 1)
    p = close(proposal)
    block_seal()
    response = Client().get(f"/proposals/{p.pk}/ballots.json")
    assert response.status_code == 200
    return p, response.json()


def test_ranked_choice_with_5_options_and_50_ballots_tallies_the_hand_computed_instant_runoff(ranked_export):
    p, export = ranked_export
    assert p.tally["rounds"] == EXPECTED_ROUNDS
    assert p.tally["totals"] == ["14", "12", "10", "6", "8"]
    assert (p.tally["winner"], p.tally["outcome"], p.tally["voters"], p.tally["cast"]) == (2, "passed", 50, "50")
    assert p.state == "executed"  # a signal that decided something; executing it changes nothing
    assert Ballot.objects.filter(proposal=p).count() == 51
    assert sum(1 for b in export["ballots"] if b["counted"]) == 50
    assert export["ballots"][0]["choice"] == "options" and export["ballots"][0]["options"] == [4]
    assert not export["ballots"][0]["counted"]
    report = recount.recount(export)
    assert report.tally == p.tally and report.anchored and (report.counted, report.superseded) == (50, 1)
    # The page shows the options and each round in plain words.
    page = Client().get(f"/proposals/{p.pk}").content.decode()
    assert "Decided: Curie won after 4 round(s) of instant runoff" in page
    assert (
        "Round 1: Ada 14, Babbage 12, Curie 10, Dijkstra 6, Euler 8. More than half of 50 is 26: no option has "
        "it, so Dijkstra, with the fewest, is eliminated and its ballots move to their next choice."
    ) in page
    assert (
        "Round 3: Ada 14, Babbage 12, Curie 21 (3 on ballots that rank no option still in the race, set aside). "
        "More than half of 47 is 24: no option has it, so Babbage"
    ) in page
    assert (
        "Round 4: Ada 14, Curie 33 (3 on ballots that rank no option still in the race, set aside). More than half of 47 is 24: Curie has it and wins."
        in page
    )
    assert 'data-testid="option-total-2">10<' in page and "ranked 1. Euler, 2. Dijkstra, 3. Curie" in page


def test_the_offline_recount_reproduces_the_runoff_and_fails_on_tampering(ranked_export, tmp_path):
    _, export = ranked_export

    def fails(tampered, match):
        with pytest.raises(recount.Mismatch, match=match):
            recount.recount(tampered)

    moved = copy.deepcopy(export)
    moved["ballots"][-1]["options"] = [0]  # one vote moved to Ada, in the row ...
    fails(moved, "options differ from the signed message")
    moved["ballots"][-1]["message"]["options"] = [0]  # ... and in the message
    fails(moved, "digest")
    rounds = copy.deepcopy(export)
    rounds["proposal"]["tally"]["rounds"][3]["counts"][0] = "15"
    fails(rounds, "tally rounds")
    method = copy.deepcopy(export)
    method["proposal"]["payload"]["method"] = "single"
    fails(method, "single-choice signal: pick one option")
    dup = copy.deepcopy(export)
    dup["ballots"][-1]["message"]["options"] = [0, 0]
    fails(dup, "canonical")
    # manage.py recount with no database: PASS, then FAIL on the moved vote.
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(export))
    bad.write_text(json.dumps(rounds))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    manage = str(Path(settings.BASE_DIR) / "manage.py")

    def run(path):
        return subprocess.run(
            [sys.executable, manage, "recount", str(path)], env=env, capture_output=True, text=True, timeout=60
        )

    ok = run(good)
    assert ok.returncode == 0, ok.stderr
    assert "51 ballots (50 counted, 1 superseded)" in ok.stdout
    assert "ranked over 5 options, 4 round(s): winner 'Curie'" in ok.stdout
    refused = run(bad)
    assert refused.returncode == 1 and "FAIL: tally rounds" in refused.stderr


def test_single_choice_and_approval_tallies_and_a_tie_has_no_winner(signed_in):
    idao = make_idao(members=[BOB, CAROL, DAVE])
    single = signal(idao, "single", ["Yes, now", "Later", "Never"])
    cast(ALICE, single, [0])
    cast(BOB, single, [1])
    cast(CAROL, single, [1])
    approval = signal(idao, "approval", ["Yes, now", "Later", "Never"])
    cast(ALICE, approval, [0, 1])
    cast(BOB, approval, [1])
    cast(CAROL, approval, [2, 0])
    cast(DAVE, approval, [0])
    page = signed_in(DAVE).get(f"/proposals/{approval.pk}").content.decode()
    assert 'data-signal-method="approval"' in page and page.count("data-option=") == 3
    assert 'data-testid="my-choice">approved Yes, now<' in page  # Dave's own ballot, in words
    assert "approved Never, Yes, now" in page  # Carol's, in the voters list
    s = live_tally(Proposal.objects.get(pk=single.pk))
    assert (s["totals"], s["winner"], s["outcome"]) == (["1", "2", "0"], 1, "passed")
    a = live_tally(Proposal.objects.get(pk=approval.pk))
    assert (a["totals"], a["winner"], a["cast"]) == (["3", "2", "1"], 0, "4")
    tied = signal(idao, "approval", ["Yes, now", "Later", "Never"])
    cast(ALICE, tied, [0])
    cast(BOB, tied, [1])
    t = close(tied)
    assert (t.tally["winner"], t.state) == (None, "rejected")


def test_delegated_weight_follows_the_delegates_ballot_whatever_its_shape():
    idao = staked_idao(ALICE, BOB, CAROL)  # 100, 200, 300 LAZ, stake-weighted
    delegate(ALICE, [(BOB, 10000)])
    proposal = signal(idao, "ranked", ["A", "B", "C"])
    cast(BOB, proposal, [1, 0])
    cast(CAROL, proposal, [2])
    t = live_tally(Proposal.objects.get(pk=proposal.pk))
    # Bob carries Alice's 100: B 300 against C 300, then nobody else to transfer: a tie.
    assert t["rounds"][0]["counts"] == ["0", "300", "300"] and t["winner"] is None
    cast(ALICE, proposal, [0, 1])  # Alice votes herself: her 100 leaves Bob's ballot
    t = live_tally(Proposal.objects.get(pk=proposal.pk))
    assert t["rounds"][0]["counts"] == ["100", "200", "300"]
    assert t["rounds"][1]["counts"] == [None, "300", "300"] and t["winner"] is None


def test_the_api_creates_a_signal_with_options_and_accepts_and_refuses_option_ballots(signed_in):
    make_idao(members=[BOB])
    alice = signed_in(ALICE)
    created = post(
        alice,
        "/api/v1/idaos/open-health/proposals",
        {"kind": "signal", "title": "Which model next?", "payload": {"options": ["A", " B ", "C"], "method": "ranked"}},
    )
    assert created.status_code == 201, created.content
    assert created.json()["payload"] == {"options": ["A", "B", "C"], "method": "ranked"}
    proposal = Proposal.objects.get(pk=created.json()["id"])
    for payload in (
        {"options": ["A"], "method": "ranked"},
        {"options": ["A", "a"], "method": "approval"},
        {"options": ["A", " "], "method": "single"},
        {"options": ["A", "B"], "method": "borda"},
        {"options": [f"o{i}" for i in range(11)], "method": "single"},
    ):
        refused = post(
            alice, "/api/v1/idaos/open-health/proposals", {"kind": "signal", "title": "x", "payload": payload}
        )
        assert (refused.status_code, refused.json()["error"]) == (422, "invalid_options"), payload
    url = f"/api/v1/proposals/{proposal.pk}/votes"
    for options, code in (
        ([3], "unknown_option"),
        ([0, 2, 0], "duplicate_option"),
        ([], "empty_selection"),
    ):
        refused = post(alice, url, option_ballot(ALICE, proposal, options))
        assert (refused.status_code, refused.json()["error"]) == (422, code), options
    refused = post(alice, url, ballot(ALICE, proposal, "for"))
    assert (refused.status_code, refused.json()["error"]) == (422, "wrong_ballot_type")
    body = option_ballot(ALICE, proposal, [2, 0])
    accepted = post(alice, url, {**body, "types": eip712.option_types(), "primaryType": "OptionBallot"})
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["ballot"]["options"] == [2, 0] and accepted.json()["ballot"]["choice"] == "options"
    receipt = Client().get(accepted.json()["receipt_url"]).content.decode()
    assert 'data-testid="ballot-choice">ranked 1. C, 2. A<' in receipt and "OptionBallot" in receipt
    assert not Ballot.objects.filter(proposal=proposal).exclude(pk=accepted.json()["ballot"]["id"]).exists()
    # An OptionBallot on a for/against proposal, and two options on a single-choice signal.
    plain = make_proposal(proposal.idao, title="Plain")
    refused = post(alice, f"/api/v1/proposals/{plain.pk}/votes", option_ballot(ALICE, plain, [0]))
    assert (refused.status_code, refused.json()["error"]) == (422, "wrong_ballot_type")
    single = signal(proposal.idao, "single", ["A", "B"])
    refused = post(alice, f"/api/v1/proposals/{single.pk}/votes", option_ballot(ALICE, single, [0, 1]))
    assert (refused.status_code, refused.json()["error"]) == (422, "too_many_options")
    approval = signal(proposal.idao, "approval", ["A", "B"])
    refused = post(alice, f"/api/v1/proposals/{approval.pk}/votes", option_ballot(ALICE, approval, []))
    assert (refused.status_code, refused.json()["error"]) == (422, "empty_selection")


def test_the_proposal_builder_creates_a_ranked_signal_from_lines_of_options(signed_in):
    make_idao(members=[BOB])
    bob = signed_in(BOB)
    form = {
        "kind": "signal",
        "title": "Which dataset first?",
        "signal_options": "Cardiology\n\n  Oncology \nRadiology",
        "signal_method": "ranked",
        "submit_now": "on",
    }
    preview = bob.post("/idaos/open-health/proposals/new", {**form, "preview": "1"}).content.decode()
    assert "A ranked-choice signal between 3 options (Cardiology, Oncology, Radiology)" in preview
    created = bob.post("/idaos/open-health/proposals/new", form)
    assert created.status_code == 302
    proposal = Proposal.objects.get(title="Which dataset first?")
    assert proposal.payload == {"options": ["Cardiology", "Oncology", "Radiology"], "method": "ranked"}
    refused = bob.post("/idaos/open-health/proposals/new", {**form, "signal_options": "Only one"}).content.decode()
    assert "options is a list of 2 to 10 option labels." in refused


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_closes_a_ranked_signal_once_with_its_runoff(celery_worker):
    from datetime import timedelta

    from django.utils import timezone

    from idaos.tasks import advance_proposals
    from ledger.models import Leaf

    idao = make_idao(members=[BOB, CAROL, DAVE])
    proposal = signal(idao, "ranked", ["A", "B", "C"])
    for p, ranking in ((ALICE, [0, 2]), (BOB, [1, 2]), (CAROL, [2, 1]), (DAVE, [0])):
        cast(p, proposal, ranking)
    Proposal.objects.filter(pk=proposal.pk).update(voting_ends_at=timezone.now() - timedelta(seconds=1))
    advance_proposals.delay()
    advance_proposals.delay()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Proposal.objects.get(pk=proposal.pk).state == "active":
        time.sleep(0.1)
    proposal.refresh_from_db()
    # Round 1: A 2, B 1, C 1 of 4 (3 needed); C and B tie for least: C, listed last, is out.
    # Round 2: Carol's ballot moves to B: A 2, B 2: the last two are tied, no winner.
    assert [r["counts"] for r in proposal.tally["rounds"]] == [["2", "1", "1"], ["2", "2", None]]
    assert (proposal.tally["winner"], proposal.state) == (None, "rejected")
    assert Leaf.objects.filter(subject=f"proposal:{proposal.pk}").count() == 1  # one result, nothing executed


def test_a_for_against_ballot_still_records_in_one_query_and_an_option_ballot_in_two(django_assert_num_queries):
    idao = make_idao(members=[BOB])
    plain = make_proposal(idao, title="Plain")
    ranked = signal(idao, "ranked", ["A", "B"])
    body = ballot(BOB, plain, "for")
    with django_assert_num_queries(1):  # the idaos_cast_ballot() call, as before options existed
        ballots.ballot_cast(proposal_id=plain.pk, message=body["message"], signature=body["signature"], user=None)
    body = option_ballot(BOB, ranked, [1, 0])
    with django_assert_num_queries(2):  # the proposal's options, then the same call
        ballots.ballot_cast(proposal_id=ranked.pk, message=body["message"], signature=body["signature"], user=None)
