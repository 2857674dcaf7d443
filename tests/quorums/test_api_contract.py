"""The quorums API as a typed contract: the EIP-712 page is the API operation's answer, and the
answers keep their wire shapes through their schemas."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from quorums.eip712 import publication

pytestmark = pytest.mark.django_db


def test_the_eip712_json_page_is_the_api_operations_answer():
    client = Client()
    page, api = client.get("/quorums/eip712.json"), client.get("/api/v1/quorums/eip712")
    assert page.status_code == api.status_code == 200
    assert json.loads(page.content) == api.json() == json.loads(json.dumps(publication()))


def test_a_verdict_batch_lists_only_the_keys_each_outcome_has(signed_in):
    answer = signed_in().post(
        "/api/v1/verdicts",
        {"verdicts": [{"round": 999999, "message": {"verdict": "maybe"}, "signature": "0x00"}]},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    (item,) = answer.json()["results"]
    assert set(item) == {"status", "error", "detail"} and item["status"] == 422


def test_an_unknown_round_is_a_declared_404():
    response = Client().get("/api/v1/rounds/999999")
    assert response.status_code == 404 and response.json()["error"] == "round_not_found"
    document = Client().get("/api/v1/openapi.json").json()
    assert "404" in document["paths"]["/api/v1/rounds/{round_id}"]["get"]["responses"]


def test_assignments_rendered_directly_are_exactly_what_the_declared_schema_gives(signed_in):
    from ninja.responses import NinjaJSONEncoder
    from pydantic import TypeAdapter

    from quorums import services
    from quorums.schemas import AssignmentOut
    from tests.quorums.factories import PROBE, setup_network

    idao, _quorum, ps = setup_network(3)
    services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="shape", content_hash="0x" + "5a" * 32)
    answer = signed_in(ps[0]).get("/api/v1/validator/assignments")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("application/json")
    body = answer.json()
    assert len(body) == 1
    # What ninja would have answered after validating the list against the declared schema.
    adapter = TypeAdapter(list[AssignmentOut])
    declared = json.loads(json.dumps(adapter.dump_python(adapter.validate_python(body)), cls=NinjaJSONEncoder))
    assert body == declared
