from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.personas import Persona


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def siwe_message(
    *,
    address: str,
    nonce: str,
    domain: str = "testserver",
    uri: str | None = None,
    chain_id: int = 1,
    issued_at: datetime | None = None,
    expiration: datetime | bool | None = True,
    not_before: datetime | None = None,
) -> str:
    issued_at = issued_at or datetime.now(UTC)
    lines = [
        f"{domain} wants you to sign in with your Ethereum account:",
        address,
        "",
        "Sign in to the iDAO Portal.",
        "",
        f"URI: {uri or 'http://' + domain}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {iso(issued_at)}",
    ]
    if expiration is True:
        expiration = issued_at + timedelta(minutes=10)
    if expiration:
        lines.append(f"Expiration Time: {iso(expiration)}")
    if not_before:
        lines.append(f"Not Before: {iso(not_before)}")
    return "\n".join(lines)


def sign_in(client, who: Persona) -> dict:
    """Sign `who` in through the real endpoints (nonce, message, signature, verify)."""
    nonce = client.get("/auth/siwe/nonce").json()["nonce"]
    text = siwe_message(address=who.address, nonce=nonce)
    response = client.post(
        "/auth/siwe/verify",
        {"message": text, "signature": who.sign_text(text)},
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 200, response.content
    return response.json()
