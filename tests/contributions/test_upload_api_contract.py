"""The streaming upload is a plain Django view but keeps the API's contract: the same auth in the
same order (bearer token with contributions:write, else the session; anonymous is 401 before any
CSRF check), the same text check (NUL or a lone surrogate in a form field is 400 invalid_text, with
nothing staged left behind) and the same answer shape as GET /api/v1/contributions."""

from __future__ import annotations

import os

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from contributions.models import Contribution
from portal.models import ApiToken
from tests.contributions.test_uploads import URL, form
from tests.factories import user_of
from tests.personas import BOB
from tests.quorums.factories import IdaoFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def idao():
    i = IdaoFactory()
    member(i, BOB)
    return i


def bearer(scopes: list[str]) -> Client:
    raw, prefix, digest = ApiToken.generate()
    ApiToken.objects.create(user=user_of(BOB), name="uploader", scopes=scopes, prefix=prefix, key_hash=digest)
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {raw}")


def staged() -> set[str]:
    folder = default_storage.path(".staging")
    os.makedirs(folder, exist_ok=True)
    return {n for n in os.listdir(folder) if n.startswith("up-")}


def test_anonymous_upload_is_401_not_authenticated_before_any_csrf_check(idao):
    r = Client(enforce_csrf_checks=True).post(URL, form(b"a,b\n", idao=idao.slug))
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"


def test_a_token_without_contributions_write_gets_403_insufficient_scope(idao):
    r = bearer(["dats:access"]).post(URL, form(b"a,b\n", idao=idao.slug))
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert "contributions:write" in r.json()["detail"]
    assert not Contribution.objects.exists()


def test_a_token_with_contributions_write_uploads_without_csrf_and_gets_the_listed_shape(idao):
    client = bearer(["contributions:write"])
    r = client.post(URL, form(b"a,b\n1,2\n", idao=idao.slug))
    assert r.status_code == 201, r.content
    (listed,) = client.get("/api/v1/contributions").json()
    assert r.json() == listed


def multipart_with_title(idao, title: str) -> tuple[bytes, str]:
    data = form(b"a,b\n", idao=idao.slug)
    data["title"] = title
    boundary = "contract"
    lines = []
    for name, value in data.items():
        if name == "file":
            continue
        for item in value if isinstance(value, list) else [value]:
            lines.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{item}\r\n')
    body = "".join(lines).encode("utf-8", "surrogatepass")
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.csv"\r\n'
        "Content-Type: text/csv\r\n\r\na,b\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("field", ["idao", "title", "licence"])
def test_a_nul_byte_in_a_form_field_is_400_invalid_text_and_leaves_nothing_staged(signed_in, idao, field):
    before = staged()
    body, content_type = multipart_with_title(idao, "Trial data")
    body = body.replace(f'name="{field}"\r\n\r\n'.encode(), f'name="{field}"\r\n\r\na\x00'.encode(), 1)
    r = signed_in(BOB).generic("POST", URL, body, content_type=content_type)
    assert r.status_code == 400 and r.json()["error"] == "invalid_text", r.content
    assert not Contribution.objects.exists()
    assert staged() - before == set()


def test_a_lone_surrogate_in_a_form_field_is_400_invalid_text_and_leaves_nothing_staged(signed_in, idao):
    """Django's multipart parser decodes form fields with errors="replace": the bytes of a lone
    surrogate arrive as U+FFFD, which the portal's text check refuses like a NUL byte."""
    before = staged()
    body, content_type = multipart_with_title(idao, "a\ud800b")
    r = signed_in(BOB).generic("POST", URL, body, content_type=content_type)
    assert r.status_code == 400 and r.json()["error"] == "invalid_text", r.content
    assert not Contribution.objects.exists()
    assert staged() - before == set()
