"""API tokens (portal.api_tokens and the /tokens/ pages): shown once, stored hashed, scoped,
steward tokens for an iDAO (the `idao` subject dats registers), revocation, last use."""

from __future__ import annotations

import pytest

from portal.models import ApiToken
from tests.dats.factories import make_idao
from tests.personas import ALICE, BOB


@pytest.mark.django_db
def test_api_token_is_shown_once_stored_hashed_scoped_and_revocable(signed_in, client):
    bob = signed_in(BOB)
    response = bob.post("/tokens/", {"name": "trainer", "scopes": ["dats:access"]})
    assert response.status_code == 201
    raw = response.context["raw"]
    token = ApiToken.objects.get(user__address=BOB.address)
    assert raw.encode() in response.content and token.key_hash == ApiToken.hash(raw) and raw not in token.key_hash
    assert token.scopes == ["dats:access"] and token.subject == ""
    assert raw.encode() not in bob.get("/tokens/").content
    assert client.get("/api/v1/dats", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    me = client.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert me.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert bob.post(f"/tokens/{token.pk}/revoke").status_code == 302
    assert client.get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert bob.post("/tokens/", {"name": "x", "scopes": ["root"]}).status_code == 422


@pytest.mark.django_db
def test_only_stewards_create_tokens_for_their_idao(signed_in):
    make_idao(ALICE, slug="stewarded")
    assert (
        signed_in(ALICE)
        .post("/tokens/", {"name": "pipe", "subject": "idao:stewarded", "scopes": ["dats:access"]})
        .status_code
        == 201
    )
    assert ApiToken.objects.get(user__address=ALICE.address).subject == "idao:stewarded"
    refused = signed_in(BOB).post("/tokens/", {"name": "pipe", "subject": "idao:stewarded", "scopes": ["dats:access"]})
    assert refused.status_code == 403
    assert not ApiToken.objects.filter(user__address=BOB.address).exists()


@pytest.mark.django_db
def test_the_token_page_offers_exactly_the_idaos_the_user_stewards(signed_in):
    make_idao(ALICE, slug="stewarded")
    assert b'value="idao:stewarded"' in signed_in(ALICE).get("/tokens/").content
    assert b'value="idao:stewarded"' not in signed_in(BOB).get("/tokens/").content
