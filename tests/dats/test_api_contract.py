"""The dats API as a typed contract: out-of-range policy numbers are refused (never a 500, on the
API and on the page), the bundle.json page is the API operation's answer, and every output shape is
the schema OpenAPI declares."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client

from portal.scopes import SCOPES as ALL_SCOPES
from tests.dats.factories import make_idao, minted, token_for
from tests.personas import ALICE, BOB

pytestmark = pytest.mark.django_db

TWENTY_DIGITS = 12345678901234567890


@pytest.mark.parametrize("field", ["price_credit", "quota"])
def test_a_policy_number_beyond_its_column_is_refused_with_422_not_a_500(signed_in, field):
    dat = minted(make_idao(ALICE), BOB)
    response = signed_in(BOB).post(
        f"/api/v1/dats/{dat.pk}/policy", {field: TWENTY_DIGITS}, content_type="application/json"
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"] in ("invalid_input", "invalid_policy")
    dat.refresh_from_db()
    assert dat.policy_version == 1


@pytest.mark.parametrize("field", ["price_credit", "quota"])
def test_the_policy_form_refuses_a_number_beyond_its_column_with_a_message(signed_in, field):
    dat = minted(make_idao(ALICE), BOB)
    bob = signed_in(BOB)
    response = bob.post(f"/dats/{dat.pk}/policy", {"allowed_uses": ["training"], field: str(TWENTY_DIGITS)})
    assert response.status_code == 302
    page = bob.get(f"/dats/{dat.pk}/").content.decode()
    assert f"{field} is between 0 and" in page
    dat.refresh_from_db()
    assert dat.policy_version == 1


def test_the_bundle_json_page_is_the_api_operations_answer():
    dat = minted(make_idao(ALICE), BOB)
    client = Client()
    waiting_page, waiting_api = client.get(f"/dats/{dat.pk}/bundle.json"), client.get(f"/api/v1/dats/{dat.pk}/bundle")
    assert waiting_page.status_code == waiting_api.status_code == 409  # the mint record awaits its block
    assert waiting_page.json() == waiting_api.json() and waiting_api.json()["error"] == "leaf_not_sealed"
    assert waiting_page["Retry-After"] == "5"
    call_command("seal_block")
    page = client.get(f"/dats/{dat.pk}/bundle.json")
    api = client.get(f"/api/v1/dats/{dat.pk}/bundle")
    assert page.status_code == api.status_code == 200
    assert json.loads(page.content) == api.json()
    assert page.content.startswith(b'{\n "format"')  # indented for reading
    assert "attachment" in client.get(f"/dats/{dat.pk}/bundle.json?download=1")["Content-Disposition"]
    missing_page, missing_api = client.get("/dats/999999/bundle.json"), client.get("/api/v1/dats/999999/bundle")
    assert missing_page.status_code == missing_api.status_code == 404
    assert missing_page.json() == missing_api.json() and missing_api.json()["error"] == "dat_not_found"


def test_dat_records_keep_their_wire_names_class_and_from(signed_in):
    dat = minted(make_idao(ALICE), BOB)
    record = Client().get(f"/api/v1/dats/{dat.pk}").json()
    assert record["class"] == "dataset" and "klass" not in record and record["parents"] == []
    page = Client().get("/api/v1/dats").json()
    assert page["results"][0]["class"] == "dataset" and page["results"][0]["parents"] is None
    moved = signed_in(BOB).post(
        f"/api/v1/dats/{dat.pk}/transfer", {"to": ALICE.address}, content_type="application/json"
    )
    assert moved.status_code == 200, moved.content
    assert set(moved.json()) == {"seq", "anchorLeafId", "tokenId", "kind", "by", "from", "to"}
    assert moved.json()["from"] == BOB.address


def test_verify_leaves_out_what_does_not_apply():
    dat = minted(make_idao(ALICE), BOB)
    call_command("seal_block")
    answer = Client().get(f"/api/v1/dats/{dat.pk}/verify").json()
    assert answer["valid"] is True and "problem" not in answer and set(answer["head"]) >= {"height", "blockHash"}


# Every operation of quorums, contributions and dats that accepts a bearer token, with its scope
# (None: reading your own account needs a valid token and no particular scope).
SCOPES = {
    ("get", "/api/v1/validator/assignments"): "validator",
    ("post", "/api/v1/rounds/{round_id}/verdicts"): "validator",
    ("post", "/api/v1/verdicts"): "validator",
    ("post", "/api/v1/quorums/{quorum_id}/bond"): "validator",
    ("post", "/api/v1/quorums/{quorum_id}/unbond"): "validator",
    ("post", "/api/v1/quorums"): "moderation",
    ("patch", "/api/v1/quorums/{quorum_id}"): "moderation",
    ("post", "/api/v1/quorums/{quorum_id}/paused"): "moderation",
    ("post", "/api/v1/validators/{validator_id}/state"): "moderation",
    ("post", "/api/v1/validators/{validator_id}/cases"): "moderation",
    ("post", "/api/v1/cases/{case_id}/decision"): "moderation",
    ("post", "/api/v1/rounds/{round_id}/force-close"): "moderation",
    ("get", "/api/v1/contributions"): None,
    ("post", "/api/v1/contributions/upload"): "contributions:write",
    ("post", "/api/v1/contributions/{public_id}/parents"): "contributions:write",
    ("post", "/api/v1/dats/{dat_id}/access"): "dats:access",
    ("get", "/api/v1/dats/{dat_id}/file"): "dats:access",
    ("post", "/api/v1/dats/{dat_id}/policy"): "dats:manage",
    ("post", "/api/v1/dats/{dat_id}/revoke"): "dats:manage",
    ("post", "/api/v1/dats/{dat_id}/transfer"): "dats:manage",
    ("post", "/api/v1/dats/{dat_id}/parents"): "dats:manage",
    ("post", "/api/v1/rounds/{round_id}/appeal"): "contributions:write",
    ("post", "/api/v1/dats/{dat_id}/challenge"): "dats:access",
}
APPS = {"quorums", "contributions", "dats"}


def test_every_bearer_operation_of_quorums_contributions_and_dats_names_its_scope_in_openapi():
    document = Client().get("/api/v1/openapi.json").json()
    found = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if set(operation.get("tags") or []) & APPS and operation.get("security"):
                found[(method, path)] = operation.get("x-required-scope")
                if found[(method, path)]:
                    assert {"BearerAuth": [found[(method, path)]]} in operation["security"]
                    assert "insufficient_scope" in operation["x-error-codes"]["403"]
    assert found == SCOPES


@pytest.mark.parametrize(("method", "path"), [key for key, scope in SCOPES.items() if scope])
def test_a_token_without_the_operations_scope_gets_403_insufficient_scope_naming_it(method, path):
    dat = minted(make_idao(ALICE), BOB)
    needed = SCOPES[(method, path)]
    raw, _ = token_for(BOB, scopes=sorted(set(ALL_SCOPES) - {needed}))
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = path.format(
        dat_id=dat.pk, round_id=dat.round_id, quorum_id=dat.round.quorum_id, public_id="x", validator_id=1, case_id=1
    )
    response = client.generic(method.upper(), url, b"{}", content_type="application/json")
    assert response.status_code == 403, (url, response.content)
    assert response.json()["error"] == "insufficient_scope" and needed in response.json()["detail"]
