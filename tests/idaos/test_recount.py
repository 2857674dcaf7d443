"""Recount from the export alone: /proposals/<id>/ballots.json carries the voting-power snapshot,
the counting rule, every ballot and the ledger proof of the result; `manage.py recount` checks it
all with no database, and any tampering fails naming the mismatch."""

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
from django.core.management import CommandError, call_command
from django.test import Client

from idaos import recount
from idaos.models import Ballot
from idaos.services import ballots, proposals
from ledger.services import block_seal
from tests.idaos.conftest import ballot, fund, make_idao, make_proposal, user_of
from tests.personas import BOB, CAROL, DAVE


def cast(p, proposal, choice, *, ts=None):
    body = ballot(p, proposal, choice, ts=ts)
    return ballots.ballot_cast(
        proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(p)
    )


def closed_proposal(rule: str = "stake_weighted"):
    """BOB (100 LAZ) changes his mind from against to for, CAROL (49 LAZ) votes against, DAVE (9 LAZ)
    does not vote; closed, anchored and sealed."""
    for p, amount in ((BOB, 100), (CAROL, 49), (DAVE, 9)):
        fund(p, amount)
    idao = make_idao(members=[BOB, CAROL, DAVE], voting_rule=rule, quorum_bps=5000, approval_threshold_bps=5000)
    proposal = make_proposal(idao)
    now = int(time.time())
    cast(BOB, proposal, "against", ts=now)
    cast(BOB, proposal, "for", ts=now + 1)
    cast(CAROL, proposal, "against", ts=now)
    proposal.refresh_from_db()
    assert proposals.proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at)
    block_seal()
    proposal.refresh_from_db()
    return proposal


@pytest.fixture
def export(db):
    proposal = closed_proposal()
    response = Client().get(f"/proposals/{proposal.pk}/ballots.json")
    assert response.status_code == 200
    assert f'filename="proposal-{proposal.pk}.json"' in response["Content-Disposition"]
    return response.json()


def fails(export, match: str) -> None:
    with pytest.raises(recount.Mismatch, match=match):
        recount.recount(export)


def test_the_export_carries_snapshot_rule_every_ballot_and_the_anchor_proof(export):
    assert export["format"] == "idao-proposal-export/1"
    assert export["voting_rule"] == "stake_weighted"
    assert (export["quorum_bps"], export["approval_threshold_bps"]) == (5000, 5000)
    by_voter = {row["voter"]: row for row in export["voting_power"]}
    assert by_voter[BOB.address] == {"voter": BOB.address, "weight": "100", "balance": "100"}
    assert by_voter[DAVE.address]["weight"] == "9"
    assert [(b["voter"], b["choice"], b["counted"]) for b in export["ballots"]] == [
        (BOB.address, "against", False),
        (BOB.address, "for", True),
        (CAROL.address, "against", True),
    ]
    assert all(b["signature"] and b["message"] and b["verified_by"] == "eoa" for b in export["ballots"])
    assert export["anchor_status"] == "sealed"
    assert export["anchor"]["leaf"]["kind"] == "idao.proposal.result"
    assert export["anchor"]["leaf"]["id"] == export["proposal"]["result_leaf_id"]
    assert set(export["anchor"]["block"]) == {"height", "prevHash", "merkleRoot", "leafCount", "timestamp", "blockHash"}


def test_an_untampered_export_recounts_to_the_recorded_result(export):
    report = recount.recount(export)
    assert (report.ballots, report.valid, report.counted, report.superseded) == (3, 3, 2, 1)
    assert report.tally["for"] == "100" and report.tally["against"] == "49" and report.tally["outcome"] == "passed"
    assert report.ballots_root == export["proposal"]["ballots_root"]
    assert report.anchored and report.leaf_id == export["proposal"]["result_leaf_id"]


@pytest.mark.parametrize("rule", ["one_member_one_vote", "quadratic"])
def test_every_voting_rule_recounts_with_the_portals_own_tally(db, rule):
    proposal = closed_proposal(rule)
    report = recount.recount(Client().get(f"/proposals/{proposal.pk}/ballots.json").json())
    assert report.tally == proposal.tally


def test_changing_a_weight_fails_naming_the_voter(export):
    tampered = copy.deepcopy(export)
    row = next(r for r in tampered["voting_power"] if r["voter"] == CAROL.address)
    row["weight"] = "490"
    fails(tampered, rf"voting_power\[\d\] \({CAROL.address}\): weight 490 is not what stake_weighted gives")
    both = copy.deepcopy(tampered)
    next(r for r in both["voting_power"] if r["voter"] == CAROL.address)["balance"] = "490"
    fails(both, "ballot .*: weight 49 but the snapshot gives .* 490")
    ballot_too = copy.deepcopy(both)
    for b in ballot_too["ballots"]:
        if b["voter"] == CAROL.address:
            b["weight"] = "490"
    fails(ballot_too, "tally against: the export says '49' but the recount gives '490'")


def test_dropping_a_ballot_fails(export):
    counted = copy.deepcopy(export)
    counted["ballots"] = [b for b in counted["ballots"] if b["voter"] != CAROL.address]
    fails(counted, "tally against: the export says '49' but the recount gives '0'")
    superseded = copy.deepcopy(export)
    del superseded["ballots"][1]  # BOB's counted "for": his earlier "against" becomes his latest
    fails(superseded, "marked superseded, but each voter's latest ballot")


def test_altering_a_signature_fails(export):
    tampered = copy.deepcopy(export)
    sig = tampered["ballots"][2]["signature"]
    tampered["ballots"][2]["signature"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    fails(
        tampered,
        f"ballot {tampered['ballots'][2]['id']}: the signature (recovers 0x[0-9a-fA-F]{{40}}, not the voter|cannot be recovered)",
    )
    choice = copy.deepcopy(export)
    choice["ballots"][2]["message"]["choice"] = "for"
    choice["ballots"][2]["choice"] = "for"
    fails(choice, "is not the EIP-712 digest of its message")


def test_changing_the_rule_or_threshold_fails(export):
    rule = copy.deepcopy(export)
    rule["voting_rule"] = rule["proposal"]["voting_rule"] = "one_member_one_vote"
    fails(rule, "weight 100 is not what one_member_one_vote gives")
    threshold = copy.deepcopy(export)
    threshold["approval_threshold_bps"] = 7000
    fails(threshold, "tally approval_threshold_bps: the export says 5000 but the recount gives 7000")
    quorum = copy.deepcopy(export)
    quorum["quorum_bps"] = 9000
    fails(quorum, "tally quorum_bps")
    both = copy.deepcopy(threshold)
    both["proposal"]["tally"]["approval_threshold_bps"] = 7000
    both["proposal"]["tally"]["approval_reached"] = False
    both["proposal"]["tally"]["outcome"] = "rejected"
    fails(both, "tally approval_threshold_bps: the anchored record says 5000 but the recount gives 7000")


def test_changing_the_result_fails(export):
    tampered = copy.deepcopy(export)
    tampered["proposal"]["tally"]["outcome"] = "rejected"
    fails(tampered, "tally outcome: the export says 'rejected' but the recount gives 'passed'")
    root = copy.deepcopy(export)
    root["proposal"]["ballots_root"] = "0x" + "ab" * 32
    fails(root, "ballots root: the export says 0xabab")
    anchored = copy.deepcopy(export)
    payload = json.loads(anchored["anchor"]["leaf"]["payload"])
    payload["tally"]["outcome"] = "rejected"
    anchored["anchor"]["leaf"]["payload"] = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    fails(anchored, "anchor: the ledger proof does not verify .*payload does not hash")


def test_changing_a_proof_node_or_header_fails(export):
    tampered = copy.deepcopy(export)
    assert tampered["anchor"]["proof"], "the result shares its block with other records"
    node = tampered["anchor"]["proof"][0]
    tampered["anchor"]["proof"][0] = node[:-1] + ("0" if node[-1] != "0" else "1")
    fails(tampered, "anchor: the ledger proof does not verify .*do not hash to the root")
    header = copy.deepcopy(export)
    header["anchor"]["block"]["timestamp"] += 1
    fails(header, "anchor: the ledger proof does not verify .*blockHash")
    dropped = copy.deepcopy(export)
    dropped["anchor"] = None
    fails(dropped, "carries no proof")
    dropped["anchor_status"] = "queued"  # accepted, but reported as not proven
    report = recount.recount(dropped)
    assert not report.anchored and "NOT proven" in report.checks[-1]


def test_contract_wallet_ballots_are_listed_as_needing_rpc(export):
    tampered = copy.deepcopy(export)
    tampered["ballots"][2]["verified_by"] = "erc1271"
    with pytest.raises(recount.NeedsRpc, match=rf"ballots {tampered['ballots'][2]['id']}\b.*--rpc URL"):
        recount.recount(tampered)


def test_recount_command_offline_with_no_database_passes_and_fails_with_the_mismatch(export, tmp_path):
    good, bad = tmp_path / f"proposal-{export['proposal']['id']}.json", tmp_path / "bad.json"
    good.write_text(json.dumps(export))
    tampered = copy.deepcopy(export)
    tampered["voting_power"][0]["weight"] = "1"
    bad.write_text(json.dumps(tampered))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    manage = str(Path(settings.BASE_DIR) / "manage.py")

    def run(*args):
        return subprocess.run(
            [sys.executable, manage, "recount", *args], env=env, capture_output=True, text=True, timeout=60
        )

    ok = run(str(good))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"PASS: proposal {export['proposal']['id']}: 3 ballots (2 counted, 1 superseded)")
    assert "compare the latest block hash" in ok.stdout
    refused = run(str(bad))
    assert refused.returncode == 1
    assert "FAIL: voting_power[0]" in refused.stderr and "weight 1 is not what stake_weighted gives" in refused.stderr
    needs = copy.deepcopy(export)
    needs["ballots"][0]["verified_by"] = "erc6492"
    bad.write_text(json.dumps(needs))
    incomplete = run(str(bad))
    assert incomplete.returncode == 2 and "INCOMPLETE" in incomplete.stderr and "--rpc" in incomplete.stderr


@pytest.mark.django_db
def test_recount_by_id_reads_the_database_and_runs_the_same_checks(capsys):
    proposal = closed_proposal()
    call_command("recount", str(proposal.pk))
    out = capsys.readouterr().out
    assert out.startswith(f"PASS: proposal {proposal.pk}") and "3 valid signatures" in out
    tampered = Ballot.objects.get(voter=CAROL.address)
    Ballot.objects.filter(pk=tampered.pk).update(choice="for", message={**tampered.message, "choice": "for"})
    with pytest.raises(CommandError, match=f"FAIL: ballot {tampered.pk}: digest"):
        call_command("recount", str(proposal.pk))


@pytest.mark.django_db
def test_an_open_proposal_recounts_against_its_live_tally_unanchored():
    idao = make_idao(members=[BOB, CAROL])
    proposal = make_proposal(idao)
    cast(BOB, proposal, "for")
    report = recount.recount(Client().get(f"/proposals/{proposal.pk}/ballots.json").json())
    assert report.counted == 1 and not report.anchored


@pytest.mark.django_db
def test_the_proposal_page_links_the_export_next_to_recount_it_yourself():
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    html = Client().get(f"/proposals/{proposal.pk}").content.decode()
    assert "Recount it yourself" in html
    assert f'href="/proposals/{proposal.pk}/ballots.json"' in html
    assert f"recount proposal-{proposal.pk}.json" in html


def _mutations(export):
    """Every way of deleting a field, nulling it or giving it the wrong type, top level and in the
    first ballot, snapshot row and anchor."""
    places = [([], export), (["ballots", 0], export["ballots"][0]), (["voting_power", 0], export["voting_power"][0])]
    places += [(["anchor"], export["anchor"]), (["proposal"], export["proposal"]), (["eip712"], export["eip712"])]
    for path, obj in places:
        for key in list(obj):
            for value in (None, "x", [], {}, -1, True, 10**80):
                yield path, key, value
            yield path, key, ...


def test_any_malformed_export_fails_as_a_mismatch_never_a_crash(export):
    for path, key, value in _mutations(export):
        tampered = copy.deepcopy(export)
        obj = tampered
        for step in path:
            obj = obj[step]
        if value is ...:
            del obj[key]
        else:
            obj[key] = value
        try:
            recount.recount(tampered)
        except recount.Mismatch:
            continue
        # What a recount does not depend on: labels and times nobody signed, the proposal's text.
        assert (tuple(path), key) in IRRELEVANT, (path, key, value)


# verified_by: deleting it means "eoa", and the signature is then recovered as before; the chain
# and block a contract check ran at are what the portal saw, and the recount asks the chain again.
_BALLOT_LABELS = ("id", "received_at", "verified_by", "verified_chain_id", "verified_block")
_PROPOSAL_TEXT = ("title", "description", "kind", "payload", "author", "state", "execution_error", "discussion_url")
_PROPOSAL_TEXT += ("comment_count",)
_PROPOSAL_TIMES = ("created_at", "submitted_at", "voting_starts_at", "voting_ends_at", "closed_at", "execute_after")
IRRELEVANT = {(("ballots", 0), k) for k in _BALLOT_LABELS}
IRRELEVANT |= {(("proposal",), k) for k in (*_PROPOSAL_TEXT, *_PROPOSAL_TIMES, "execution_leaf_id")}
IRRELEVANT |= {((), "anchor_status")}
# A Ballot's `options` is null (absent in older exports); only an OptionBallot's must match its message.
IRRELEVANT |= {(("ballots", 0), "options")}
# The OptionBallot type may be absent (exports before it existed) where no ballot uses it.
IRRELEVANT |= {(("eip712",), "option_ballot")}


# Contract-wallet ballots with an RPC (up, down, or wrong) are recounted against the real EVM in
# tests/idaos/test_recount_contract_wallets.py.


def test_stripping_the_anchor_of_a_closed_proposal_fails(export):
    tampered = copy.deepcopy(export)
    tampered["anchor"], tampered["anchor_status"], tampered["proposal"]["result_leaf_id"] = None, "not_closed", None
    fails(tampered, "the proposal is executed but the export names no anchored result")


@pytest.mark.django_db
def test_a_ballot_whose_message_spells_the_voter_in_lowercase_recounts():
    idao = make_idao(members=[BOB, CAROL])
    proposal = make_proposal(idao)
    body = ballot(BOB, proposal, "for", voter=BOB.address.lower())
    ballots.ballot_cast(
        proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=user_of(BOB)
    )
    report = recount.recount(Client().get(f"/proposals/{proposal.pk}/ballots.json").json())
    assert report.counted == 1 and report.tally["for"] == "1"
