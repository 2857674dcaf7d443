from __future__ import annotations

import json

import pytest

from ledger.models import Leaf
from quorums import services
from quorums.errors import ReasonRequired, StaffOnly
from quorums.models import AuditEntry, FraudCase, Quorum, Round, Slash, Validator
from tests.personas import ALICE, MALLORY
from tests.quorums.factories import PROBE, setup_network, signed, user_of

ACT = "/quorums/moderation/act"


@pytest.fixture
def staff_client(signed_in):
    client = signed_in(ALICE)
    user = user_of(ALICE)
    user.is_staff = True
    user.save()
    return client


def anchored(entry: AuditEntry) -> bool:
    return Leaf.objects.filter(pk=entry.anchor_leaf_id, kind="audit", subject=f"audit:{entry.pk}").exists()


@pytest.mark.django_db
def test_non_staff_get_403_on_every_moderation_page_and_action(signed_in):
    _idao, quorum, _ps = setup_network(3)
    client = signed_in(MALLORY)
    assert client.get("/quorums/moderation/").status_code == 403
    assert client.post(ACT, {"action": "pause", "quorum": quorum.pk, "reason": "takeover"}).status_code == 403
    assert not Quorum.objects.get(pk=quorum.pk).paused and not AuditEntry.objects.exists()
    with pytest.raises(StaffOnly):
        services.quorum_set_paused(actor=user_of(MALLORY), quorum_id=quorum.pk, paused=True, reason="takeover")


@pytest.mark.django_db
def test_pause_and_resume_are_audited_and_anchored(staff_client):
    idao, quorum, _ps = setup_network(3)
    assert (
        staff_client.post(
            ACT, {"action": "pause", "quorum": quorum.pk, "reason": "key compromise suspected"}
        ).status_code
        == 302
    )
    assert Quorum.objects.get(pk=quorum.pk).paused
    assert (
        services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="x", content_hash="0x" + "aa" * 32) is None
    )
    staff_client.post(ACT, {"action": "resume", "quorum": quorum.pk, "reason": "keys rotated"})
    assert not Quorum.objects.get(pk=quorum.pk).paused
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [(e.action, e.reason) for e in entries] == [
        ("quorum_pause", "key compromise suspected"),
        ("quorum_resume", "keys rotated"),
    ]
    assert all(anchored(e) for e in entries)
    page = staff_client.get("/quorums/moderation/")
    assert page.status_code == 200 and b"key compromise suspected" in page.content


@pytest.mark.django_db
def test_paused_quorum_lets_open_rounds_finish(staff_client):
    idao, quorum, ps = setup_network(3)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="y", content_hash="0x" + "bb" * 32)
    staff_client.post(ACT, {"action": "pause", "quorum": quorum.pk, "reason": "maintenance"})
    for p in ps:
        services.verdict_submit(round_id=r.pk, **signed(p, r))
    assert services.round_close(round_id=r.pk).outcome == "accepted"


@pytest.mark.django_db
def test_jail_unjail_and_remove_validators_with_reasons(staff_client):
    _idao, _quorum, ps = setup_network(3)
    v = Validator.objects.get(address=ps[0].address)
    for action, state in (("jail", "jailed"), ("unjail", "active"), ("remove", "removed")):
        staff_client.post(ACT, {"action": action, "validator": v.pk, "reason": f"{action} for cause", "confirm": "1"})
        assert Validator.objects.get(pk=v.pk).state == state
    assert AuditEntry.objects.filter(target=f"validator:{v.pk}").count() == 3
    with pytest.raises(ReasonRequired):
        services.validator_set_state(actor=user_of(ALICE), validator_id=v.pk, state="active", reason="")


@pytest.mark.django_db
def test_fraud_cases_are_opened_and_decided_by_slash_or_dismissal_with_a_written_reason(staff_client):
    _idao, _quorum, ps = setup_network(3)
    v0, v1 = (Validator.objects.get(address=p.address) for p in ps[:2])
    staff_client.post(ACT, {"action": "open_case", "validator": v0.pk, "reason": "copied verdicts from a bot"})
    staff_client.post(ACT, {"action": "open_case", "validator": v1.pk, "reason": "reported by a member"})
    c0, c1 = FraudCase.objects.order_by("pk")
    staff_client.post(
        ACT,
        {
            "action": "slash_case",
            "case": c0.pk,
            "reason": "logs confirm it",
            "rate_bps": 2500,
            "jail": "1",
            "confirm": "1",
        },
    )
    staff_client.post(ACT, {"action": "dismiss_case", "case": c1.pk, "reason": "no evidence"})
    staff_client.post(
        ACT, {"action": "slash_case", "case": c0.pk, "reason": "again", "rate_bps": 2500, "confirm": "1"}
    )  # decided already
    c0.refresh_from_db()
    c1.refresh_from_db()
    assert (c0.state, c0.decision, c1.state, c1.decision) == ("slashed", "logs confirm it", "dismissed", "no evidence")
    assert [(s.reason, int(s.amount)) for s in Slash.objects.all()] == [("fraud", 250)]
    assert Validator.objects.get(pk=v0.pk).state == "jailed"
    assert all(anchored(e) for e in AuditEntry.objects.all())


@pytest.mark.django_db
def test_staff_force_close_a_stuck_round(staff_client):
    idao, _quorum, ps = setup_network(3)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="z", content_hash="0x" + "cc" * 32)
    services.verdict_submit(round_id=r.pk, **signed(ps[0], r))
    staff_client.post(
        ACT, {"action": "force_close", "round": r.pk, "reason": "validators offline for a day", "confirm": "1"}
    )
    r = Round.objects.get(pk=r.pk)
    assert (r.state, r.outcome, r.close_reason) == ("closed", "inconclusive", "forced")
    assert AuditEntry.objects.get(action="round_force_close").target == f"round:{r.pk}"
    assert not Slash.objects.filter(round=r).exists()  # closed before the deadline: nobody was absent yet


@pytest.mark.django_db
def test_public_pages_render(signed_in, client):
    idao, quorum, ps = setup_network(3)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="p", content_hash="0x" + "dd" * 32)
    services.verdict_submit(round_id=r.pk, **signed(ps[0], r))
    assert quorum.name.encode() in client.get("/quorums/").content
    assert ps[0].address.encode() in client.get(f"/quorums/{quorum.pk}/").content
    page = client.get(f"/rounds/{r.pk}/")
    assert page.status_code == 200 and b"approve" in page.content
    assert client.get(f"/rounds/{r.pk}/", headers={"HX-Request": "true"}).content.lstrip().startswith(b"<section")
    schema = client.get("/quorums/eip712.json").json()
    assert (
        schema["domain"]["name"] == "iDAO Portal"
        and schema["primaryType"] == "ScoredVerdict"
        and schema["versions"][0]["primaryType"] == "Verdict"
    )
    seat = r.seats.exclude(address=ps[0].address).first()
    inbox = signed_in(next(p for p in ps if p.address == seat.address)).get("/validator/inbox")
    assert inbox.status_code == 200 and f'data-round="{r.pk}"'.encode() in inbox.content


@pytest.mark.django_db
def test_bond_form_on_the_quorum_page(signed_in):
    from tests.quorums.factories import QuorumFactory, fund

    quorum = QuorumFactory(min_bond=100)
    fund(MALLORY, 150)
    client = signed_in(MALLORY)
    client.post(f"/quorums/{quorum.pk}/bond", {"amount": "150", "action": "bond"})
    assert int(Validator.objects.get(quorum=quorum).stake) == 150
    r = client.post(f"/quorums/{quorum.pk}/bond", {"amount": "999", "action": "bond"}, follow=True)
    assert [m.level_tag for m in r.context["messages"]] == ["success", "error"]
    assert int(Validator.objects.get(quorum=quorum).stake) == 150


@pytest.mark.django_db
def test_the_validator_action_menu_defaults_to_nothing_and_jail_needs_confirmation(staff_client):
    _idao, _quorum, ps = setup_network(3)
    v = Validator.objects.get(address=ps[0].address)
    page = staff_client.get("/quorums/moderation/").content.decode()
    assert '<option value="" selected disabled>Choose an action…</option>' in page
    assert '<option value="jail" selected' not in page
    r = staff_client.post(ACT, {"action": "jail", "validator": v.pk, "reason": "looks odd"}, follow=True)
    assert "tick “I confirm” to jail" in r.content.decode()
    assert Validator.objects.get(pk=v.pk).state == "active" and not AuditEntry.objects.exists()
    staff_client.post(ACT, {"action": "jail", "validator": v.pk, "reason": "looks odd", "confirm": "1"})
    assert Validator.objects.get(pk=v.pk).state == "jailed"


@pytest.mark.django_db
def test_quorum_moderation_is_a_typed_api_for_staff_only(staff_client, signed_in):
    def post(client, url, body):
        return client.post(url, json.dumps(body), content_type="application/json")

    _idao, quorum, ps = setup_network(3)
    v = Validator.objects.get(address=ps[0].address)
    nobody = post(signed_in(MALLORY), f"/api/v1/quorums/{quorum.pk}/paused", {"paused": True, "reason": "takeover"})
    assert nobody.status_code == 403 and nobody.json()["error"] == "staff_only"
    paused = post(staff_client, f"/api/v1/quorums/{quorum.pk}/paused", {"paused": True, "reason": "maintenance"})
    assert paused.status_code == 200 and Quorum.objects.get(pk=quorum.pk).paused
    no_reason = post(staff_client, f"/api/v1/validators/{v.pk}/state", {"state": "jailed", "reason": ""})
    assert no_reason.status_code == 422 and no_reason.json()["error"] == "reason_required"
    jailed = post(staff_client, f"/api/v1/validators/{v.pk}/state", {"state": "jailed", "reason": "double signing"})
    assert jailed.json()["state"] == "jailed"
    assert (
        post(staff_client, "/api/v1/validators/999999/state", {"state": "active", "reason": "why"}).json()["error"]
        == "validator_not_found"
    )
    case = post(staff_client, f"/api/v1/validators/{v.pk}/cases", {"allegation": "copied verdicts"})
    assert case.status_code == 201 and case.json()["state"] == "open"
    decision = {"slash": False, "reason": "no evidence"}
    assert post(staff_client, f"/api/v1/cases/{case.json()['id']}/decision", decision).json()["state"] == "dismissed"
    assert post(staff_client, f"/api/v1/cases/{case.json()['id']}/decision", decision).json()["error"] == "case_decided"
    assert post(staff_client, "/api/v1/cases/999999/decision", decision).json()["error"] == "case_not_found"
    assert AuditEntry.objects.filter(action="quorum_pause").exists()
