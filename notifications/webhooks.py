"""Webhook transport: the signature and an SSRF-safe POST.

The URL must be http(s). At delivery the host is resolved once, every resolved address is checked
(loopback, private, link-local incl. 169.254.169.254, multicast, unspecified and reserved ranges
are refused unless settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE), and the connection goes to that
checked address (no second resolution between check and connect). Request and response bodies
and the timeout are bounded; redirects are not followed."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from portal.errors import DomainError

MAX_BODY = 256 * 1024  # bytes we send
MAX_RESPONSE = 64 * 1024  # bytes we read back
USER_AGENT = "iDAO-Portal-Webhooks/1"


class WebhookUrlRefused(DomainError):
    code = "webhook_url_refused"
    status = 422


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: parse, recompute, compare in constant time, bound the clock skew."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed "[" of an IPv6 host, for one
        raise WebhookUrlRefused("The webhook URL is not a valid URL.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused("A webhook URL is http:// or https:// with a host name.")
    if parts.username or parts.password:
        raise WebhookUrlRefused("A webhook URL may not carry credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookUrlRefused("The webhook URL's port is not valid.") from exc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


def address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE:
        return not ip.is_multicast and not ip.is_unspecified
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def resolve(host: str, port: int) -> str:
    """The one address we will connect to: every address the name resolves to must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookUrlRefused(f"The webhook host {host} does not resolve.") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    refused = [str(a) for a in addresses if not address_allowed(a)]
    if refused or not addresses:
        raise WebhookUrlRefused(
            f"The webhook host {host} resolves to {', '.join(refused) or 'nothing'}, which is not a public address."
        )
    return str(addresses[0])


def check_url(url: str, *, resolve_host: bool = True) -> None:
    """At save: the scheme, and the host's addresses when it resolves (delivery checks again)."""
    _scheme, host, port, _path = _split(url)
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        if not address_allowed(literal):
            raise WebhookUrlRefused(f"The webhook address {literal} is not a public address.")
        return
    if resolve_host:
        try:
            resolve(host, port)
        except WebhookUrlRefused as exc:
            if "does not resolve" not in exc.detail:
                raise


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


@dataclass
class Outcome:
    status_code: int | None
    error: str
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """5xx, timeouts and connection failures are retried; 4xx and refused URLs are not."""
        if self.status_code is None:
            return not self.error.startswith("refused:")
        return self.status_code >= 500


def post(url: str, *, secret: str, body: bytes, event_kind: str, delivery_id: int) -> Outcome:
    started = time.monotonic()

    def done(status: int | None, error: str = "") -> Outcome:
        return Outcome(status, error[:500], int((time.monotonic() - started) * 1000))

    if len(body) > MAX_BODY:
        return done(None, "refused: the event body is larger than the webhook limit")
    try:
        scheme, host, port, path = _split(url)
        ip = resolve(host, port)
    except WebhookUrlRefused as exc:
        return done(None, f"refused: {exc.detail}")
    timeout = float(settings.NOTIFICATIONS_WEBHOOK_TIMEOUT)
    conn_class = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    conn = conn_class(host, port, ip, timeout)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Portal-Signature": sign(secret, int(time.time()), body),
        "X-Portal-Event": event_kind,
        "X-Portal-Delivery": str(delivery_id),
    }
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(MAX_RESPONSE)
        return done(response.status)
    except TimeoutError:
        return done(None, "timeout")
    except (OSError, http.client.HTTPException) as exc:
        return done(None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
