"""The shared API contract (issue 10 point 5, issue 11 points 1, 4-7): one ErrorOut, declared
statuses with their codes, token scopes, request text checked in one place, JSON errors outside
views under /api/ and /auth/, authentication before CSRF, bounded field types."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import pytest
from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent
from django.http.multipartparser import MultiPartParserError
from django.test import Client, RequestFactory
from pydantic import TypeAdapter, ValidationError

from portal.api_tokens import SCOPES
from portal.auth import api_auth
from portal.models import ApiToken, User
from portal.parsing import json_depth_exceeds
from portal.schemas import Amount, Int64, Limit, Offset, Timestamp
from portal.views import bad_request, server_error
from tests.personas import ALICE
from tests.siwe_helpers import siwe_message


def _document() -> dict:
    return Client().get("/api/v1/openapi.json").json()


def _token(scopes: list[str]) -> str:
    user, _ = User.objects.get_or_create(address=ALICE.address)
    raw, prefix, digest = ApiToken.generate()
    ApiToken.objects.create(user=user, name="t", scopes=scopes, prefix=prefix, key_hash=digest)
    return raw


# --- the OpenAPI document --------------------------------------------------------------------


def test_there_is_one_error_schema_in_the_document():
    schemas = _document()["components"]["schemas"]
    shaped_like_errors = [name for name, s in schemas.items() if set(s.get("properties", {})) == {"error", "detail"}]
    assert shaped_like_errors == ["ErrorOut"]


def test_every_operation_declares_the_statuses_the_request_itself_can_cause_with_codes():
    for path, item in _document()["paths"].items():
        for method, op in item.items():
            responses, codes = op["responses"], op["x-error-codes"]
            assert "invalid_text" in codes["400"], (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "invalid_input" in codes["422"], (method, path)
            if op.get("security"):
                assert "not_authenticated" in codes["401"], (method, path)
            for status, group in codes.items():
                assert status in responses, (method, path, status)
                assert all(f"`{c}`" in responses[status]["description"] for c in group), (method, path, status)


def test_an_operation_shows_the_scope_it_needs():
    op = _document()["paths"]["/api/v1/usage"]["post"]
    assert op["x-required-scope"] == "usage:report"
    assert {"UsageBearer": ["usage:report"]} in op["security"]
    assert "insufficient_scope" in op["x-error-codes"]["403"]


def test_an_unknown_scope_cannot_be_declared():
    with pytest.raises(ValueError, match="unknown API token scope"):
        api_auth(scope="everything")
    assert {"dats:access", "usage:report", "contributions:write", "validator", "governance:write"} <= set(SCOPES)
    assert {"dats:manage", "treasury"} <= set(SCOPES)


# --- scopes and authentication ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_token_without_the_scope_gets_insufficient_scope_naming_it():
    raw = _token(["dats:access"])
    response = Client().post(
        "/api/v1/usage", data="{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope" and "usage:report" in response.json()["detail"]


@pytest.mark.django_db
def test_a_token_keeps_working_for_reading_your_own_account():
    raw = _token(["usage:report"])
    response = Client().get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json()["address"] == ALICE.address


@pytest.mark.django_db
def test_an_anonymous_call_to_a_signed_in_operation_is_401_not_csrf_failed():
    response = Client(enforce_csrf_checks=True).post("/api/v1/usage", data="{}", content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")


@pytest.mark.django_db
def test_a_signed_in_session_without_the_csrf_header_is_csrf_failed(signed_in):
    client = signed_in(ALICE)
    del client.defaults["HTTP_X_CSRFTOKEN"]
    response = client.post("/api/v1/usage", data="{}", content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (403, "csrf_failed")


# --- request text and shape, in one place ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b'{"x": "a\\u0000b"}', b'{"x": "a\\ud800b"}', b'{"a\\u0000": 1}', b'{"x": "\xed\xa0\x80"}', b'["\\udfff"]'],
)
def test_nul_bytes_and_lone_surrogates_in_a_json_body_are_invalid_text(body):
    response = Client().post("/auth/siwe/verify", data=body, content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_text")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/api/v1/ledger/accounts/a%00b/balances", "/api/v1/ledger/accounts/a%ED%A0%80/balances"]
)
def test_bad_text_in_a_path_is_invalid_text(url):
    response = Client().get(url)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_text")


@pytest.mark.django_db
def test_bad_text_in_a_query_string_is_invalid_text_and_a_page_gets_html():
    response = Client().get("/api/v1/idaos?q=a%ED%A0%80")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_text")
    page = Client().get("/idaos/?q=a%00")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_json_body_nested_5000_levels_is_refused_before_parsing():
    response = Client().post("/auth/siwe/verify", data="[" * 5000 + "]" * 5000, content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (400, "nesting_too_deep")


def test_the_depth_scan_ignores_brackets_inside_strings():
    assert not json_depth_exceeds(json.dumps({"x": "[" * 500}).encode())
    assert json_depth_exceeds(b"[" * 65 + b"]" * 65)
    assert not json_depth_exceeds(b"[" * 64 + b"]" * 64)


@pytest.mark.django_db
def test_a_siwe_message_with_control_characters_is_not_canonical(csrf_client):
    nonce = csrf_client.get("/auth/siwe/nonce").json()["nonce"]
    text = siwe_message(address=ALICE.address, nonce=nonce).replace("Sign in to", "Sign\tin to")
    response = csrf_client.post(
        "/auth/siwe/verify",
        {"message": text, "signature": ALICE.sign_text(text)},
        content_type="application/json",
        headers={"X-CSRFToken": csrf_client.cookies["csrftoken"].value},
    )
    assert (response.status_code, response.json()["error"]) == (400, "malformed_message")


# --- bounded field types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Offset, -1),
        (Offset, 10**20),
        (Limit, 0),
        (Limit, 201),
        (Int64, True),
        (Int64, 2**63),
        (Amount, 2**255),
        (Amount, -1),
        (Amount, True),
        (Timestamp, "2030-01-01T00:00:00+15:00"),
        (Timestamp, "2030-01-01T00:00:00"),
        (Timestamp, "2030-01-01T00:00:00+99:00"),
    ],
)
def test_out_of_range_values_are_invalid(kind, value):
    with pytest.raises(ValidationError):
        TypeAdapter(kind).validate_python(value)


def test_in_range_values_pass():
    assert TypeAdapter(Amount).validate_python(2**255 - 1) == 2**255 - 1
    assert TypeAdapter(Timestamp).validate_python("2030-01-01T00:00:00-14:00").year == 2030
    assert isinstance(TypeAdapter(Timestamp).validate_python("2030-01-01T00:00:00Z"), datetime)


# --- JSON errors outside views -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_wrong_method_under_the_api_is_json_405():
    response = Client().delete("/api/v1/ledger/supply")
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")


@pytest.mark.django_db
def test_an_unknown_host_is_json_under_the_api_and_html_on_pages(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    response = Client().get("/api/v1/ledger/supply", HTTP_HOST="evil.example")
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")
    page = Client().get("/", HTTP_HOST="evil.example")
    assert page.status_code == 400 and not page["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("exception", "status", "code"),
    [
        (TooManyFieldsSent("x"), 400, "too_many_parts"),
        (RequestDataTooBig("x"), 413, "payload_too_large"),
        (DisallowedHost("x"), 400, "bad_request"),
    ],
)
def test_parser_errors_raised_outside_views_are_json_under_auth_and_api(exception, status, code):
    for path in ("/auth/logout", "/api/v1/usage"):
        response = bad_request(RequestFactory().post(path), exception)
        assert (response.status_code, json.loads(response.content)["error"]) == (status, code)
    assert not bad_request(RequestFactory().post("/idaos/"), exception)["Content-Type"].startswith("application/json")


def test_a_malformed_multipart_body_read_by_a_middleware_keeps_its_400():
    try:
        raise MultiPartParserError("bad")
    except MultiPartParserError:
        response = server_error(RequestFactory().post("/api/v1/contributions/upload"))
    assert (response.status_code, json.loads(response.content)["error"]) == (400, "bad_request")


@pytest.mark.django_db
def test_a_body_too_big_for_a_json_operation_is_json_413(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    raw = _token(["usage:report"])
    response = Client().post(
        "/auth/siwe/verify", data=json.dumps({"message": "x" * 500, "signature": "y"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (413, "payload_too_large")


@pytest.mark.django_db
def test_a_malformed_multipart_body_is_json_400():
    response = Client().post(
        "/api/v1/contributions/upload",
        data=b'--x\r\nContent-Disposition: form-data; name="f"\r\n\r\nabc',
        content_type="multipart/form-data; boundary=x",
    )
    assert response.status_code in (400, 401) and response["Content-Type"].startswith("application/json")


def test_a_server_error_under_the_api_is_json_and_html_on_pages():
    factory = RequestFactory()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        api = server_error(factory.get("/api/v1/idaos"))
        page = server_error(factory.get("/idaos/"))
    assert sys.exc_info() == (None, None, None)
    assert api.status_code == 500 and json.loads(api.content)["error"] == "server_error"
    assert (
        page.status_code == 500
        and b"error" not in page.content[:1]
        and not page.get("Content-Type", "").startswith("application/json")
    )


# --- scopes on governance, treasury and paging (issue 11 points 1 and 5) -----------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url", "body", "scope"),
    [
        ("post", "/api/v1/idaos", {"slug": "scoped", "name": "Scoped", "domain": "healthcare"}, "governance:write"),
        ("post", "/api/v1/idaos/scoped/join", None, "governance:write"),
        ("post", "/api/v1/idaos/scoped/proposals", {"kind": "signal", "title": "x"}, "governance:write"),
        ("post", "/api/v1/proposals/1/votes", {}, "governance:write"),
        (
            "post",
            "/api/v1/rewards/idaos/scoped/credit-grants",
            {"member": ALICE.address, "amount": 1, "idempotency_key": "k"},
            "treasury",
        ),
    ],
)
def test_narrow_tokens_cannot_govern_or_move_treasury_credit(method, url, body, scope):
    from idaos.models import IDAO

    for scopes in ([], ["dats:access"], ["usage:report"]):
        raw = _token(scopes)
        response = getattr(Client(), method)(
            url, data=json.dumps(body) if body is not None else None, content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )  # fmt: skip
        assert response.status_code == 403, (scopes, response.content)
        assert response.json()["error"] == "insufficient_scope" and scope in response.json()["detail"]
    assert not IDAO.objects.filter(slug="scoped").exists()


@pytest.mark.django_db
def test_a_token_with_the_scope_forms_an_idao():
    raw = _token(["governance:write"])
    response = Client().post(
        "/api/v1/idaos", data=json.dumps({"slug": "scoped", "name": "Scoped", "domain": "healthcare"}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert response.status_code == 201, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["offset=-1", "offset=12345678901234567890", "limit=0", "limit=201", "limit=true"])
def test_paging_out_of_bounds_is_422_not_500(query):
    assert Client().get(f"/api/v1/idaos?{query}").status_code == 422
    from tests.idaos.conftest import make_idao

    idao = make_idao()
    response = Client().get(f"/api/v1/idaos/{idao.slug}/proposals?{query}")
    assert (response.status_code, response.json()["error"]) == (422, "invalid_input")


@pytest.mark.django_db
def test_true_is_not_an_integer_in_a_body():
    raw = _token(["governance:write"])
    response = Client().post(
        "/api/v1/idaos", data=json.dumps({"slug": "s", "name": "S", "domain": "healthcare", "quorum_bps": True}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}",
    )  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (422, "invalid_input")


# --- the .json pages are aliases of API operations (one implementation) -------------------------


@pytest.mark.django_db
def test_the_json_pages_answer_what_their_api_operations_answer():
    from tests.idaos.conftest import make_idao, make_proposal

    proposal = make_proposal(make_idao())
    client = Client()
    pairs = [
        ("/governance/eip712.json", "/api/v1/governance/eip712"),
        ("/ledger/headers.json?after=0&limit=5", "/api/v1/ledger/headers?after=0&limit=5"),
        (f"/proposals/{proposal.pk}/ballots.json", f"/api/v1/proposals/{proposal.pk}/ballots"),
        ("/ledger/blocks/999999.json", "/api/v1/ledger/blocks/999999"),
        ("/ledger/proofs/999999.json", "/api/v1/ledger/proofs/999999"),
        ("/proposals/999999/ballots.json", "/api/v1/proposals/999999/ballots"),
    ]
    for page, operation in pairs:
        a, b = client.get(page), client.get(operation)
        assert (a.status_code, a.json()) == (b.status_code, b.json()), page
    assert client.get("/ledger/headers.json?limit=5000").status_code == 422


# --- routing: the API's patterns are tried first, for /api/ and /auth/ only ----------------------


def test_no_api_operation_shadows_a_plain_view_under_the_api_prefixes():
    # portal.urls tries django-ninja's patterns before the pages' (for paths under api/ or auth/);
    # a plain view there (the streaming upload) must still be the one that answers its path.
    from django.urls import URLPattern, URLResolver, get_resolver, resolve

    from portal.urls import API_PREFIXES

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern) != API_PREFIXES:
                    yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                assert isinstance(p, URLPattern)
                yield prefix + str(p.pattern), p.callback

    plain = [(route, view) for route, view in walk(get_resolver().url_patterns) if route.startswith(("api/", "auth/"))]
    assert plain, "the upload view is expected under /api/"
    for route, view in plain:
        assert "<" not in route and "(" not in route, f"{route}: give this check a sample path for it"
        assert resolve("/" + route).func is view, route
    # Pages never enter the API's patterns, and the API root is still the site root.
    assert resolve("/").url_name == "home" and resolve("/api/v1/openapi.json").namespace == "api"


@pytest.mark.django_db
def test_messages_are_set_up_for_pages_and_not_for_the_api():
    # portal.middleware.PageMessageMiddleware: no JSON operation adds or shows a message.
    client = Client()
    assert not hasattr(client.get("/api/v1/governance/eip712").wsgi_request, "_messages")
    assert hasattr(client.get("/").wsgi_request, "_messages")
