"""The canonical EIP-4361 (Sign-In with Ethereum) text a portal verifies, built without the
`siwe` library (which pulls in web3): the portal re-serialises what it parses and refuses any
text that does not come back byte for byte, so the field order and formats here are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

STATEMENT = "Sign in to the iDAO Portal as an automated validator node."


def iso(dt: datetime) -> str:
    """RFC 3339 with milliseconds and Z, as EIP-4361 writes times."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def siwe_message(
    *,
    portal_url: str,
    address: str,
    nonce: str,
    chain_id: int,
    issued_at: datetime | None = None,
    ttl: timedelta = timedelta(minutes=10),
    statement: str = STATEMENT,
) -> str:
    """The message for signing in at `portal_url` (its host, with port, is the SIWE domain and
    its origin the URI). `address` must be EIP-55 checksummed."""
    parts = urlsplit(portal_url)
    domain = parts.netloc
    issued_at = issued_at or datetime.now(UTC)
    lines = [
        f"{domain} wants you to sign in with your Ethereum account:",
        address,
        "",
        statement,
        "",
        f"URI: {parts.scheme}://{domain}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {iso(issued_at)}",
        f"Expiration Time: {iso(issued_at + ttl)}",
    ]
    return "\n".join(lines)
