"""Session calls to the JSON API keep Django's CSRF check whatever the body: the checker reads a
shared empty form for a body that is not a form (portal.auth.PortalSessionAuth), and the request
gets its own request.POST afterwards, as Django parses it."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from portal import auth
from tests.factories import user_of
from tests.personas import ALICE

pytestmark = pytest.mark.django_db

SECRET = "b" * 32


def test_a_json_call_with_a_csrf_header_that_does_not_match_the_cookie_is_csrf_failed(signed_in):
    client = signed_in(ALICE)
    client.defaults["HTTP_X_CSRFTOKEN"] = "c" * 32
    response = client.post("/api/v1/usage", data="{}", content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (403, "csrf_failed")


def test_a_form_body_still_passes_the_csrf_check_with_its_form_field_and_no_header(signed_in):
    client = signed_in(ALICE)
    token = client.defaults.pop("HTTP_X_CSRFTOKEN")
    response = client.post("/api/v1/usage", data={"csrfmiddlewaretoken": token})
    assert response.status_code != 403  # past the check: the body is refused for what it is
    response = client.post("/api/v1/usage", data={"csrfmiddlewaretoken": "c" * 32})
    assert (response.status_code, response.json()["error"]) == (403, "csrf_failed")


def _json_request(header: str):
    request = RequestFactory().post(
        "/api/v1/usage",
        data=b'{"a": 1}',
        content_type="application/json",
        headers={"X-CSRFToken": header, "Cookie": f"csrftoken={SECRET}"},
    )
    request.user = user_of(ALICE)
    return request


def test_after_the_check_the_request_parses_its_own_empty_post():
    request = _json_request(SECRET)
    assert auth.PortalSessionAuth()(request) == request.user
    assert "_post" not in request.__dict__  # the shared form was only lent to the check
    assert request.POST is not auth._NO_FORM
    assert dict(request.POST) == {} and not request.POST._mutable
    assert dict(auth._NO_FORM) == {} and not auth._NO_FORM._mutable


def test_a_refused_check_also_gives_the_shared_form_back():
    request = _json_request("c" * 32)
    with pytest.raises(Exception, match="CSRF"):
        auth.PortalSessionAuth()(request)
    assert "_post" not in request.__dict__
