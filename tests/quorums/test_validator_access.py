"""What a validator node reaches over HTTP with its credential: the bearer download of exactly the
file of a round it sits on, the batched assignments (limit, inline small files) and the automated
flag on token-submitted verdicts."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from contributions.models import Contribution
from contributions.services import contribution_route
from portal.api_tokens import api_token_create
from quorums.models import Validator, ValidatorState, Verdict
from tests.contributions.test_uploads import URL, form
from tests.personas import BOB, MALLORY
from tests.quorums.factories import member, setup_network, signed, user_of


def _token(p, scopes=("validator",)) -> str:
    raw, _ = api_token_create(user=user_of(p), name="node", subject="", scopes=list(scopes))
    return raw


def _bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _routed_upload(signed_in, idao, content: bytes) -> Contribution:
    up = signed_in(BOB).post(URL, form(content, idao=idao.slug)).json()
    c = Contribution.objects.get(public_id=up["id"])
    contribution_route(contribution_id=c.pk)
    c.refresh_from_db()
    return c


@pytest.mark.django_db
def test_validator_token_downloads_only_the_file_of_an_active_seat_and_no_credential_is_401(signed_in):
    idao, _quorum, ps = setup_network(3, committee_size=2)
    member(idao, BOB)
    c = _routed_upload(signed_in, idao, b"seat,data\n1,2\n")
    other = _routed_upload(signed_in, idao, b"other,file\n3,4\n")
    seated = {s.address for s in c.round.seats.all()}
    seat = next(p for p in ps if p.address in seated)
    url = f"/contributions/{c.public_id}/file"
    anonymous = Client().get(url)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "not_authenticated"
    assert Client().get(url, **_bearer("not-a-token")).status_code == 401
    ok = Client().get(url, **_bearer(_token(seat)))
    assert ok.status_code == 200 and b"".join(ok.streaming_content) == b"seat,data\n1,2\n"
    # Another scope, another validator's file, an unseated validator, an outsider: all 404.
    assert Client().get(url, **_bearer(_token(seat, scopes=("dats:access",)))).status_code == 404
    if seat.address not in {s.address for s in other.round.seats.all()}:
        assert Client().get(f"/contributions/{other.public_id}/file", **_bearer(_token(seat))).status_code == 404
    unseated = [p for p in ps if p.address not in seated]
    for p in unseated:
        assert Client().get(url, **_bearer(_token(p))).status_code == 404
    assert Client().get(url, **_bearer(_token(MALLORY))).status_code == 404
    # A jailed validator's seat is no longer active.
    Validator.objects.filter(address=seat.address).update(state=ValidatorState.JAILED)
    assert Client().get(url, **_bearer(_token(seat))).status_code == 404


@pytest.mark.django_db
def test_assignments_describe_all_seats_at_once_inline_small_files_and_honour_the_limit(signed_in):
    idao, _quorum, ps = setup_network(2)
    member(idao, BOB)
    small = [_routed_upload(signed_in, idao, f"row,{i}\n{i},x\n".encode()) for i in range(6)]
    big = _routed_upload(signed_in, idao, b"big," + b"y" * 5000 + b"\n")
    client = Client()
    raw = _token(ps[0])
    with CaptureQueriesContext(connection) as few:
        items = client.get("/api/v1/validator/assignments?inline_max=1000", **_bearer(raw)).json()
    assert len(items) == 7
    by_round = {item["round"]: item for item in items}
    for c in small:
        content = base64.b64decode(by_round[c.round_id]["subject"]["content_base64"])
        assert content == default_content(c)
    assert "content_base64" not in by_round[big.round_id]["subject"]
    more = [_routed_upload(signed_in, idao, f"more,{i}\n{i},z\n".encode()) for i in range(6)]
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/v1/validator/assignments?inline_max=1000", **_bearer(raw)).json()) == 13
    assert len(many) == len(few)  # the query count does not grow with the number of seats
    limited = client.get("/api/v1/validator/assignments?limit=4", **_bearer(raw)).json()
    assert len(limited) == 4 and all("content_base64" not in item["subject"] for item in limited)
    assert more


def default_content(c: Contribution) -> bytes:
    from django.core.files.storage import default_storage

    with default_storage.open(c.storage_name, "rb") as fh:
        return fh.read()


@pytest.mark.django_db
def test_verdicts_batched_with_a_validator_token_are_recorded_as_automated(signed_in):
    idao, _quorum, ps = setup_network(3)
    member(idao, BOB)
    c = _routed_upload(signed_in, idao, b"auto,mated\n1,2\n")
    body = {"verdicts": [{"round": c.round_id, **signed(ps[0], c.round)}]}
    r = Client().post("/api/v1/verdicts", body, content_type="application/json", **_bearer(_token(ps[0])))
    assert r.status_code == 200 and r.json()["results"][0]["status"] == 201
    assert Verdict.objects.get(round=c.round, validator__address=ps[0].address).automated is True
    by_session = signed_in(ps[1]).post(
        "/api/v1/verdicts",
        {"verdicts": [{"round": c.round_id, **signed(ps[1], c.round)}]},
        content_type="application/json",
    )
    assert by_session.json()["results"][0]["status"] == 201
    assert Verdict.objects.get(round=c.round, validator__address=ps[1].address).automated is False
    flagged = signed_in(ps[2]).post(
        "/api/v1/verdicts",
        {"verdicts": [{"round": c.round_id, **signed(ps[2], c.round)}], "automated": True},
        content_type="application/json",
    )
    assert flagged.json()["results"][0]["status"] == 201
    assert Verdict.objects.get(round=c.round, validator__address=ps[2].address).automated is True


def _checked_reason(data: bytes, tmp_path, name: str = "data.csv") -> str:
    from validator.checks import decide, run_all
    from validator.checks.base import Content, Expected

    content = Content.from_bytes(data, tmp_path / name, name=name, declared_type="text/csv")
    verdict, reason = decide(run_all(content, Expected(content_hash=content.sha256)))
    assert verdict == "reject"
    return reason


@pytest.mark.django_db
def test_contributor_page_shows_each_rejections_reasons_and_flags_and_links_the_round(signed_in, tmp_path):
    idao, _quorum, ps = setup_network(3)
    member(idao, BOB)
    empty = b"\n"
    emails = b"name,email\n" + b"".join(f"user {i},user{i}@example.org\n".encode() for i in range(40))
    rounds = []
    for data in (empty, emails):
        c = _routed_upload(signed_in, idao, data)
        reason = _checked_reason(data, tmp_path)
        for p in ps:
            from quorums import services

            services.verdict_submit(round_id=c.round_id, **signed(p, c.round, "reject", reason))
        services.round_close(round_id=c.round_id)
        c.refresh_from_db()
        assert c.state == "rejected"
        rounds.append(c.round_id)
    page = signed_in(BOB).get("/contributions/mine").content.decode()
    assert "<code>near_empty</code>: " in page and "<code>pii</code>: " in page
    assert "email" in page  # the sentence says what kind of personal data
    for round_id in rounds:
        assert f'href="/rounds/{round_id}/"' in page
