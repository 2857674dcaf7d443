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
