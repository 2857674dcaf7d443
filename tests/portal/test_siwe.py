"""Sign-In with Ethereum: every rejection code with a real signature, and the happy path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client

from portal.models import SiweNonce, User
from tests.personas import ALICE, MALLORY
from tests.siwe_helpers import siwe_message

pytestmark = pytest.mark.django_db

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "tests" / "vectors" / "reference.json").read_text())


def _nonce(client: Client) -> str:
    return client.get("/auth/siwe/nonce").json()["nonce"]


def _verify(client: Client, message: str, signature: str):
    return client.post(
        "/auth/siwe/verify",
        {"message": message, "signature": signature},
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )


def _signed(client: Client, who=ALICE, **fields):
    nonce = fields.pop("nonce", None) or _nonce(client)
    text = siwe_message(address=who.address, nonce=nonce, **fields)
    return text, who.sign_text(text)


def _assert_rejected(response, code: str, status: int) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code
    assert body["detail"]
    assert not User.objects.exists()


def test_nonce_is_fresh_long_alphanumeric_and_sets_csrf_cookie(csrf_client):
    first = csrf_client.get("/auth/siwe/nonce")
    second = csrf_client.get("/auth/siwe/nonce")
    assert first.status_code == 200
    a, b = first.json()["nonce"], second.json()["nonce"]
    assert a != b and len(a) >= 16 and a.isalnum()
    assert "csrftoken" in first.cookies or "csrftoken" in csrf_client.cookies


def test_valid_signature_signs_in_and_creates_the_user_once(csrf_client):
    text, sig = _signed(csrf_client)
    response = _verify(csrf_client, text, sig)
    assert response.status_code == 200
    assert response.json() == {
        "address": ALICE.address,
        "is_staff": False,
        "display_name": "",
        "verified_by": "eoa",
        "chain_id": 1,
    }
    assert User.objects.get().address == ALICE.address
    assert csrf_client.get("/auth/me").json()["address"] == ALICE.address
    text, sig = _signed(csrf_client)
    assert _verify(csrf_client, text, sig).status_code == 200
    assert User.objects.count() == 1


def test_reference_vector_from_the_js_siwe_library_verifies(settings, csrf_client):
    """A message and signature made by the npm siwe library and ethers are accepted."""
    vector = VECTORS["siwe"]
    settings.SIWE_DOMAIN = "127.0.0.1:8000"
    SiweNonce.objects.create(
        value="k3Jd9sPq2LxW8vNa",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        expires_at=datetime(2099, 1, 1, tzinfo=UTC),
    )
    from portal.siwe import Origin, siwe_verify

    user = siwe_verify(
        message_text=vector["message"],
        signature=vector["signature"],
        origin=Origin("http", "127.0.0.1:8000"),
        now=datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
    )
    assert user.address == vector["address"]


def test_malformed_message_is_rejected(csrf_client):
    _nonce(csrf_client)
    _assert_rejected(_verify(csrf_client, "hello world", "0x" + "11" * 65), "malformed_message", 400)


def test_message_with_lowercase_address_is_rejected_clearly(csrf_client):
    nonce = _nonce(csrf_client)
    text = siwe_message(address=ALICE.address.lower(), nonce=nonce)
    response = _verify(csrf_client, text, ALICE.sign_text(text))
    _assert_rejected(response, "malformed_message", 400)
    assert "EIP-55" in response.json()["detail"]


def test_domain_mismatch(csrf_client):
    text, sig = _signed(csrf_client, domain="evil.example", uri="http://evil.example")
    _assert_rejected(_verify(csrf_client, text, sig), "domain_mismatch", 401)


def test_uri_on_another_origin(csrf_client):
    text, sig = _signed(csrf_client, uri="https://evil.example/login")
    _assert_rejected(_verify(csrf_client, text, sig), "uri_mismatch", 401)


def test_chain_not_allowed(csrf_client):
    text, sig = _signed(csrf_client, chain_id=56)
    _assert_rejected(_verify(csrf_client, text, sig), "chain_not_allowed", 401)


def test_nonce_we_never_issued(csrf_client):
    _nonce(csrf_client)
    text, sig = _signed(csrf_client, nonce="NotIssuedByUs12345678")
    _assert_rejected(_verify(csrf_client, text, sig), "nonce_unknown", 401)


def test_nonce_used_twice(csrf_client):
    text, sig = _signed(csrf_client)
    assert _verify(csrf_client, text, sig).status_code == 200
    other = Client(enforce_csrf_checks=True)
    other.get("/auth/siwe/nonce")
    response = _verify(other, text, sig)
    assert response.status_code == 401
    assert response.json()["error"] == "nonce_used"


def test_expired_message(csrf_client):
    past = datetime.now(UTC) - timedelta(hours=1)
    text, sig = _signed(csrf_client, issued_at=past, expiration=past + timedelta(minutes=10))
    _assert_rejected(_verify(csrf_client, text, sig), "expired", 401)


def test_expired_nonce(csrf_client):
    text, sig = _signed(csrf_client)
    SiweNonce.objects.update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    _assert_rejected(_verify(csrf_client, text, sig), "expired", 401)


def test_issued_in_the_future_is_not_yet_valid(csrf_client):
    text, sig = _signed(csrf_client, issued_at=datetime.now(UTC) + timedelta(hours=1))
    _assert_rejected(_verify(csrf_client, text, sig), "not_yet_valid", 401)


def test_not_before_in_the_future_is_not_yet_valid(csrf_client):
    text, sig = _signed(csrf_client, not_before=datetime.now(UTC) + timedelta(hours=1))
    _assert_rejected(_verify(csrf_client, text, sig), "not_yet_valid", 401)


def test_signature_by_another_key_is_bad_signature(csrf_client):
    nonce = _nonce(csrf_client)
    text = siwe_message(address=ALICE.address, nonce=nonce)
    _assert_rejected(_verify(csrf_client, text, MALLORY.sign_text(text)), "bad_signature", 401)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "0x",
        "0x1234",
        "garbage",
        "0x" + "zz" * 65,
        "0x" + "00" * 65,
        "0x" + "ff" * 65,
        "0x" + "11" * 64 + "1c",
        None,
    ],
)
def test_garbage_or_truncated_signature_is_bad_signature_not_500(csrf_client, signature):
    nonce = _nonce(csrf_client)
    text = siwe_message(address=ALICE.address, nonce=nonce)
    response = csrf_client.post(
        "/auth/siwe/verify",
        json.dumps({"message": text, "signature": signature}),
        content_type="application/json",
        headers={"X-CSRFToken": csrf_client.cookies["csrftoken"].value},
    )
    if signature is None:
        _assert_rejected(response, "invalid_input", 422)
    else:
        _assert_rejected(response, "bad_signature", 401)
    assert SiweNonce.objects.filter(used_at__isnull=True).count() == 1


def test_failed_verification_leaves_the_nonce_usable(csrf_client):
    nonce = _nonce(csrf_client)
    text = siwe_message(address=ALICE.address, nonce=nonce)
    assert _verify(csrf_client, text, MALLORY.sign_text(text)).status_code == 401
    assert _verify(csrf_client, text, ALICE.sign_text(text)).status_code == 200


def test_verify_without_csrf_token_is_403(csrf_client):
    text, sig = _signed(csrf_client)
    response = csrf_client.post(
        "/auth/siwe/verify", {"message": text, "signature": sig}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert not User.objects.exists()


def test_logout_without_csrf_token_is_403(signed_in):
    client = signed_in(ALICE)
    del client.defaults["HTTP_X_CSRFTOKEN"]
    response = client.post("/auth/logout")
    assert response.status_code == 403
    assert client.get("/auth/me").status_code == 200


def test_session_key_changes_at_sign_in(csrf_client):
    csrf_client.get("/")
    session = csrf_client.session
    session["planted"] = "by attacker"
    session.save()
    before = session.session_key
    text, sig = _signed(csrf_client)
    assert _verify(csrf_client, text, sig).status_code == 200
    assert csrf_client.cookies["sessionid"].value != before


def test_logout_ends_the_session_server_side(signed_in):
    from django.contrib.sessions.models import Session

    client = signed_in(ALICE)
    key = client.cookies["sessionid"].value
    assert Session.objects.filter(session_key=key).exists()
    assert client.post("/auth/logout").json() == {"ok": True}
    assert not Session.objects.filter(session_key=key).exists()
    replay = Client()
    replay.cookies["sessionid"] = key
    assert replay.get("/auth/me").status_code == 401


def test_me_when_signed_out_is_401():
    response = Client().get("/auth/me")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_portal_admins_setting_makes_the_address_staff(settings, csrf_client):
    settings.PORTAL_ADMINS = [ALICE.address.lower()]
    text, sig = _signed(csrf_client)
    assert _verify(csrf_client, text, sig).json()["is_staff"] is True
    assert csrf_client.get("/admin/").status_code == 200


def test_admin_sends_visitors_to_siwe_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    login = client.get(response.url, follow=True)
    assert login.status_code == 200
    assert b"Sign in with Ethereum" in login.content


def _token_for(who) -> tuple[str, object]:
    from portal.models import ApiToken

    user = User.objects.create_user(who.address)
    raw, prefix, digest = ApiToken.generate()
    return raw, ApiToken.objects.create(user=user, name="script", prefix=prefix, key_hash=digest)


def test_bearer_api_token_authenticates_scripts_and_records_last_use():
    raw, token = _token_for(ALICE)
    response = Client().get("/auth/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert response.json()["address"] == ALICE.address
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoked_or_unknown_bearer_token_is_401():
    from django.utils import timezone

    raw, token = _token_for(ALICE)
    token.revoked_at = timezone.now()
    token.save()
    for value in (raw, "idao_not-a-token"):
        response = Client().get("/auth/me", headers={"Authorization": f"Bearer {value}"})
        assert response.status_code == 401
        assert response.json()["error"] == "not_authenticated"


def test_disabling_a_user_ends_their_access_at_once_despite_the_user_cache(signed_in):
    client = signed_in(ALICE)
    assert client.get("/auth/me").status_code == 200
    user = User.objects.get(address=ALICE.address)
    user.is_active = False
    user.save()
    assert client.get("/auth/me").status_code == 401


def test_a_signed_in_request_reads_its_session_and_user_in_one_redis_round_trip(signed_in, monkeypatch):
    import redis
    from django.core.cache import caches

    from portal.cache import PortalRedisCache

    cache = caches["default"]
    if not isinstance(cache, PortalRedisCache):
        pytest.skip("sessions come from the database without Redis")
    client = signed_in(ALICE)
    assert client.get("/auth/me").status_code == 200  # the user's row is cached now
    sent: list[str] = []
    # Every command redis-py sends is packed here, whichever of its paths sends it.
    pack = redis.connection.Connection.pack_command

    def recording(self, *args):
        sent.append(" ".join(str(a) for a in args))
        return pack(self, *args)

    monkeypatch.setattr(redis.connection.Connection, "pack_command", recording)
    assert client.get("/auth/me").json()["address"] == ALICE.address
    session_reads = [c for c in sent if "sessions.cached_db" in c or "portal:user:" in c]
    assert len(session_reads) == 1 and session_reads[0].startswith(("EVALSHA", "EVAL"))
    # A session cached without its user pointer (by Django's plain cached_db engine) still works,
    # and gets the pointer back for its next request.
    pointer = "django.contrib.sessions.cached_db" + client.cookies["sessionid"].value + ":uid"
    cache.delete(pointer)
    assert client.get("/auth/me").json()["address"] == ALICE.address
    assert cache.get(pointer) == User.objects.get(address=ALICE.address).pk
    # The pointer only names what to prefetch: a pointer to another (cached) user is not trusted.
    from portal.auth import AddressBackend

    mallory = User.objects.create_user(MALLORY.address)
    assert AddressBackend().get_user(mallory.pk) is not None  # her row is cached
    cache.set(pointer, mallory.pk)
    assert client.get("/auth/me").json()["address"] == ALICE.address
    assert cache.get(pointer) == User.objects.get(address=ALICE.address).pk  # and it is repaired


def test_the_session_read_survives_a_dropped_connection_and_a_flushed_script(signed_in):
    import socket

    from django.core.cache import caches

    from portal.cache import PortalRedisCache

    cache = caches["default"]
    if not isinstance(cache, PortalRedisCache):
        pytest.skip("sessions come from the database without Redis")
    client = signed_in(ALICE)
    assert client.get("/auth/me").json()["address"] == ALICE.address
    held = cache._held
    assert held is not None  # the session read keeps its connection between requests
    dropped = held[2]._sock
    dropped.shutdown(socket.SHUT_RDWR)  # as when Redis restarts or drops idle clients
    assert client.get("/auth/me").json()["address"] == ALICE.address  # read through redis-py's full path
    assert client.get("/auth/me").json()["address"] == ALICE.address
    assert cache._held is not None and cache._held[2]._sock not in (None, dropped)  # reconnected
    cache._cache.get_client().script_flush()  # NOSCRIPT: the full path loads the script again
    assert client.get("/auth/me").json()["address"] == ALICE.address
    assert client.get("/auth/me").json()["address"] == ALICE.address


def test_granting_staff_shows_on_the_next_request(signed_in):
    from django.core.management import call_command

    client = signed_in(ALICE)
    assert client.get("/auth/me").json()["is_staff"] is False
    call_command("grant_admin", ALICE.address)
    assert client.get("/auth/me").json()["is_staff"] is True


def test_a_token_revoked_after_use_is_refused_on_the_next_request():
    from portal.api_tokens import api_token_revoke

    raw, token = _token_for(ALICE)
    headers = {"Authorization": f"Bearer {raw}"}
    assert Client().get("/auth/me", headers=headers).status_code == 200  # now cached
    api_token_revoke(user=token.user, token_id=token.pk)
    assert Client().get("/auth/me", headers=headers).status_code == 401
