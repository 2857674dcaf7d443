"""Staff create quorums and change their parameters from the moderation page and the API; each
change is audited and anchored and reaches only rounds opened after it (issue 11 point 15).
Staff rights are one rule: the demo's staff user uses the Django admin."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.test import Client

from ledger.models import Leaf
from portal import demo as portal_demo
from portal.demo import demo_account
from portal.models import User
from quorums import demo as quorums_demo
from quorums import services
from quorums.errors import InvalidQuorumParameters, StaffOnly
from quorums.models import AuditEntry, Quorum, Round
from tests.personas import ALICE, MALLORY
from tests.quorums.factories import PROBE, setup_network, signed, user_of

ACT = "/quorums/moderation/act"
API = "/api/v1/quorums"


@pytest.fixture
def staff_client(signed_in):
    client = signed_in(ALICE)
    user = user_of(ALICE)
    user.is_staff = True
    user.save()
    return client


def anchored(entry: AuditEntry) -> bool:
    return Leaf.objects.filter(pk=entry.anchor_leaf_id, kind="audit", subject=f"audit:{entry.pk}").exists()


def _post_json(client, url, body, method="post"):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_staff_create_a_quorum_from_the_moderation_page_audited_and_anchored(staff_client):
    page = staff_client.get("/quorums/moderation/")
    assert page.status_code == 200 and b'data-testid="quorum-create"' in page.content
    r = staff_client.post(
        ACT,
        {
            "action": "create_quorum",
            "name": "Medical imaging validators",
            "committee_size": "5",
            "threshold_bps": "7500",
            "min_bond": "250",
            "round_duration": "3600",
            "reason": "radiology iDAO asked for one",
        },
    )
    assert r.status_code == 302
    q = Quorum.objects.get(name="Medical imaging validators")
    assert (q.committee_size, q.threshold_bps, int(q.min_bond), q.round_duration) == (
        5,
        7500,
        250,
        timedelta(hours=1),
    )
    entry = AuditEntry.objects.get(action="quorum_create", target=f"quorum:{q.pk}")
    assert entry.reason == "radiology iDAO asked for one" and entry.details["committee_size"] == "5"
    assert anchored(entry)


@pytest.mark.django_db
def test_staff_change_quorum_parameters_from_the_moderation_page_with_old_and_new_values_anchored(staff_client):
    _idao, quorum, _ps = setup_network(3)
    page = staff_client.get("/quorums/moderation/")
    assert b'data-testid="quorum-parameters"' in page.content
    staff_client.post(
        ACT,
        {
            "action": "update_quorum",
            "quorum": quorum.pk,
            "threshold_bps": "8000",
            "slash_minority_bps": "900",
            "round_duration": "7200",
            "committee_size": str(quorum.committee_size),  # unchanged: not in the audit
            "reason": "tighter rules after review",
        },
    )
    q = Quorum.objects.get(pk=quorum.pk)
    assert (q.threshold_bps, q.slash_minority_bps, q.round_duration) == (8000, 900, timedelta(hours=2))
    entry = AuditEntry.objects.get(action="quorum_update")
    assert entry.details == {
        "threshold_bps": {"from": quorum.threshold_bps, "to": 8000},
        "slash_minority_bps": {"from": quorum.slash_minority_bps, "to": 900},
        "round_duration": {"from": int(quorum.round_duration.total_seconds()), "to": 7200},
    }
    assert anchored(entry)


@pytest.mark.django_db
def test_invalid_quorum_parameters_are_refused_with_a_code_and_change_nothing(staff_client):
    _idao, quorum, _ps = setup_network(3)
    staff = user_of(ALICE)
    for bad in ({"threshold_bps": 5000}, {"committee_size": 0}, {"min_bond": "ten"}, {"colour": 1}, {}):
        with pytest.raises(InvalidQuorumParameters):
            services.quorum_update(actor=staff, quorum_id=quorum.pk, reason="try it", **bad)
    r = staff_client.post(ACT, {"action": "update_quorum", "quorum": quorum.pk, "threshold_bps": "50", "reason": "x!!"})
    assert r.status_code == 302
    assert Quorum.objects.get(pk=quorum.pk).threshold_bps == quorum.threshold_bps
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_non_staff_cannot_create_or_change_quorums_on_the_page_or_the_api(signed_in):
    _idao, quorum, _ps = setup_network(3)
    client = signed_in(MALLORY)
    assert (
        client.post(
            ACT, {"action": "update_quorum", "quorum": quorum.pk, "threshold_bps": "10000", "reason": "mine"}
        ).status_code
        == 403
    )
    r = _post_json(client, API, {"name": "Mine", "reason": "takeover"})
    assert r.status_code == 403 and r.json()["error"] == "staff_only"
    r = _post_json(client, f"{API}/{quorum.pk}", {"threshold_bps": 10000, "reason": "takeover"}, method="patch")
    assert r.status_code == 403 and r.json()["error"] == "staff_only"
    assert Client().post(API, "{}", content_type="application/json").status_code == 401
    assert Quorum.objects.get(pk=quorum.pk).threshold_bps == quorum.threshold_bps
    with pytest.raises(StaffOnly):
        services.quorum_create(actor=user_of(MALLORY), name="Mine", reason="takeover")
    assert not AuditEntry.objects.exists() and not Quorum.objects.filter(name="Mine").exists()


@pytest.mark.django_db
def test_staff_create_and_change_quorums_over_the_api_with_declared_errors(staff_client):
    r = _post_json(
        staff_client,
        API,
        {"name": "API quorum", "committee_size": 4, "round_duration": 600, "reason": "created by ops"},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["committee_size"], body["round_duration"], body["threshold_bps"]) == (4, 600, 6667)
    assert anchored(AuditEntry.objects.get(pk=body["audit_entry"]))
    assert body["anchor_leaf_id"] == AuditEntry.objects.get(pk=body["audit_entry"]).anchor_leaf_id
    again = _post_json(staff_client, API, {"name": "API quorum", "reason": "created twice"})
    assert again.status_code == 409 and again.json()["error"] == "quorum_name_taken"
    bad = _post_json(staff_client, API, {"name": "Bad", "threshold_bps": 10**30, "reason": "too big"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_quorum_parameters"
    changed = _post_json(
        staff_client, f"{API}/{body['id']}", {"min_bond": 500, "reason": "raise the bar"}, method="patch"
    )
    assert changed.status_code == 200 and changed.json()["min_bond"] == 500
    entry = AuditEntry.objects.get(pk=changed.json()["audit_entry"])
    assert entry.action == "quorum_update" and entry.details == {"min_bond": {"from": 1, "to": 500}} and anchored(entry)
    missing = _post_json(staff_client, f"{API}/999999", {"min_bond": 5, "reason": "nobody"}, method="patch")
    assert missing.status_code == 404 and missing.json()["error"] == "quorum_not_found"
    unreasoned = _post_json(staff_client, f"{API}/{body['id']}", {"min_bond": 5, "reason": ""}, method="patch")
    assert unreasoned.status_code == 422 and unreasoned.json()["error"] == "reason_required"
    spec = Client().get("/api/v1/openapi.json").json()["paths"]
    assert {"201", "401", "403", "409", "422"} <= set(spec[API]["post"]["responses"])
    assert {"200", "401", "403", "404", "422"} <= set(spec[API + "/{quorum_id}"]["patch"]["responses"])


@pytest.mark.django_db
def test_a_parameter_change_reaches_only_rounds_opened_after_it():
    idao, quorum, ps = setup_network(3)
    staff = User.objects.create_user("0x" + "5a" * 20, is_staff=True)
    before = services.round_open(
        idao_id=idao.pk, subject_kind=PROBE, subject_ref="before", content_hash="0x" + "ab" * 32
    )
    assert before.params["threshold_bps"] == quorum.threshold_bps == 6667
    services.quorum_update(
        actor=staff,
        quorum_id=quorum.pk,
        reason="a simple majority from now on",
        threshold_bps=5001,
        round_duration=7200,
    )
    after = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="after", content_hash="0x" + "cd" * 32)
    assert after.params["threshold_bps"] == 5001
    assert after.deadline - after.opened_at == timedelta(hours=2)
    assert before.deadline - before.opened_at == quorum.round_duration
    for r in (before, after):
        for p in ps[:2]:
            services.verdict_submit(round_id=r.pk, **signed(p, r))
    # Two of three approvals: enough under the new rules, not under those `before` opened with.
    assert services.round_close(round_id=after.pk).outcome == "accepted"
    assert services.round_close(round_id=before.pk).state == "open"
    assert Round.objects.get(pk=before.pk).rule("threshold_bps") == 6667


@pytest.mark.django_db
def test_the_demo_staff_user_can_use_the_django_admin():
    out = io.StringIO()
    portal_demo.load(out)
    quorums_demo.load(out)
    dave = User.objects.get(address=demo_account("dave").address)
    assert dave.is_staff and not dave.is_superuser
    client = Client()
    client.force_login(dave)
    index = client.get("/admin/")
    assert index.status_code == 200
    apps = {a["app_label"] for a in index.context["app_list"]}
    assert {"quorums", "portal", "idaos", "ledger", "rewards"} <= apps
    assert client.get("/admin/quorums/quorum/").status_code == 200
    outsider = User.objects.create_user("0x" + "6b" * 20)
    assert not outsider.has_perm("quorums.change_quorum") and not outsider.has_module_perms("quorums")


@pytest.mark.django_db
def test_staff_change_score_weights_minimums_and_bond_asset_audited_and_snapshotted_on_new_rounds(staff_client):
    idao, quorum, _ps = setup_network(3)
    before = services.round_open(
        idao_id=idao.pk, subject_kind=PROBE, subject_ref="before", content_hash="0x" + "ab" * 32
    )
    page = staff_client.get("/quorums/moderation/").content.decode()
    assert 'name="score_weights.quality"' in page and 'name="score_minimums.composite"' in page
    weights = {"authenticity": "2500", "ownership": "0", "quality": "2500", "uniqueness": "5000"}
    staff_client.post(
        ACT,
        {
            "action": "update_quorum",
            "quorum": quorum.pk,
            **{f"score_weights.{c}": w for c, w in weights.items()},
            "score_minimums.quality": "4000",
            "score_minimums.composite": "6000",
            "appeal_bond_asset": "LAZ",
            "reason": "uniqueness matters most here",
        },
    )
    q = Quorum.objects.get(pk=quorum.pk)
    new_weights = {c: int(w) for c, w in weights.items()}
    new_minimums = {"authenticity": 0, "ownership": 0, "quality": 4000, "uniqueness": 0, "composite": 6000}
    assert (q.score_weights, q.score_minimums, q.appeal_bond_asset) == (new_weights, new_minimums, "LAZ")
    entry = AuditEntry.objects.get(action="quorum_update")
    assert entry.details == {
        "score_weights": {"from": quorum.score_weights, "to": new_weights},
        "score_minimums": {"from": quorum.score_minimums, "to": new_minimums},
        "appeal_bond_asset": {"from": "CREDIT", "to": "LAZ"},
    }
    assert anchored(entry)
    after = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="after", content_hash="0x" + "cd" * 32)
    assert (after.params["score_weights"], after.params["score_minimums"]) == (new_weights, new_minimums)
    before.refresh_from_db()
    assert before.params["score_weights"] == quorum.score_weights  # a round keeps the rules it opened with
    changed = _post_json(
        staff_client, f"{API}/{quorum.pk}", {"appeal_bond_asset": "CREDIT", "reason": "back"}, method="patch"
    )
    assert changed.status_code == 200 and changed.json()["appeal_bond_asset"] == "CREDIT"
    assert changed.json()["score_weights"] == new_weights
    created = _post_json(
        staff_client,
        API,
        {"name": "Quality first", "score_weights": new_weights, "appeal_bond_asset": "LAZ", "reason": "for a lab"},
    )
    assert created.status_code == 201 and created.json()["score_weights"] == new_weights
    assert AuditEntry.objects.get(pk=created.json()["audit_entry"]).details["score_weights"] == new_weights


@pytest.mark.django_db
def test_invalid_score_settings_are_refused_with_a_code_and_change_nothing(staff_client):
    _idao, quorum, _ps = setup_network(3)
    staff = user_of(ALICE)
    four = {"authenticity": 2500, "ownership": 2500, "quality": 2500, "uniqueness": 2500}
    for bad in (
        {"score_weights": {**four, "quality": 2000}},  # sums to 9500
        {"score_weights": {"authenticity": 5000, "quality": 5000}},  # criteria missing
        {"score_weights": {**four, "colour": 0}},
        {"score_weights": {**four, "quality": -1, "uniqueness": 2501}},
        {"score_minimums": {"quality": 10_001}},
        {"score_minimums": {"colour": 1}},
        {"score_minimums": {"quality": "high"}},
        {"appeal_bond_asset": "ETH"},
    ):
        with pytest.raises(InvalidQuorumParameters):
            services.quorum_update(actor=staff, quorum_id=quorum.pk, reason="try it", **bad)
        r = _post_json(staff_client, f"{API}/{quorum.pk}", {**bad, "reason": "try it"}, method="patch")
        assert r.status_code == 422 and r.json()["error"] in ("invalid_quorum_parameters", "invalid_input"), bad
    page = staff_client.post(
        ACT,
        {"action": "update_quorum", "quorum": quorum.pk, "score_weights.quality": "10000", "reason": "only quality"},
    )
    assert page.status_code == 302
    q = Quorum.objects.get(pk=quorum.pk)
    assert (q.score_weights, q.score_minimums, q.appeal_bond_asset) == (
        quorum.score_weights,
        quorum.score_minimums,
        quorum.appeal_bond_asset,
    )
    assert not AuditEntry.objects.exists()
