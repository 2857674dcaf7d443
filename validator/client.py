"""The portal's HTTP API as the node uses it: sign-in, assignments, downloads, verdict batches.

Every call retries on connection errors, 5xx and 429 with exponential backoff and full jitter
(honouring Retry-After), and a session that the portal no longer knows (401, e.g. after its
restart with a fresh session store) is renewed by signing in again, once per call."""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import httpx
from Crypto.Hash import keccak as _keccak
from eth_account import Account
from eth_account.messages import encode_defunct

from . import __version__
from .siwe import siwe_message

log = logging.getLogger("validator.client")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class PortalError(Exception):
    """A refusal from the portal (4xx other than 401/429), or retries exhausted."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


class TooLarge(PortalError):
    pass


@dataclass(frozen=True)
class Downloaded:
    size: int
    sha256: str  # 0x-hex
    keccak256: str  # 0x-hex

    @classmethod
    def write(cls, data: bytes, sink: IO[bytes]) -> Downloaded:
        """Bytes the node already holds, written to `sink` and measured like a download."""
        sink.write(data)
        sink.flush()
        return cls.of(data)

    @classmethod
    def of(cls, data: bytes) -> Downloaded:
        """Bytes the node already holds (inline in an assignment), measured like a download."""
        return cls(
            size=len(data),
            sha256="0x" + hashlib.sha256(data).hexdigest(),
            keccak256="0x" + _keccak.new(digest_bits=256, data=data).hexdigest(),
        )


def backoff_delay(attempt: int, *, base: float = 0.25, cap: float = 20.0, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base·2^attempt)], never less than
    a Retry-After the portal sent."""
    delay = random.uniform(0, min(cap, base * (2**attempt)))  # jitter, not a secret
    return max(delay, retry_after or 0.0)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(60.0, float(value)) if value else None
    except ValueError:
        return None


def _error_of(response: httpx.Response) -> PortalError:
    try:
        body = response.json()
        return PortalError(response.status_code, str(body.get("error", "error")), str(body.get("detail", "")))
    except Exception:
        return PortalError(response.status_code, "error", response.text[:200])


class PortalClient:
    def __init__(
        self,
        base_url: str,
        *,
        key: str,
        token: str | None = None,
        chain_id: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = Account.from_key(key)
        self.token = token
        self.chain_id = chain_id
        self.max_retries = max_retries
        self.sleep = sleep
        self._login_lock = threading.Lock()
        self._session_generation = 0
        headers = {"User-Agent": f"idao-validator/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    @property
    def address(self) -> str:
        return self.account.address

    def close(self) -> None:
        self.http.close()

    # --- transport with retries -------------------------------------------------------------

    def _send(self, method: str, path: str, *, stream: bool = False, relogin: bool = True, **kw: Any) -> httpx.Response:
        attempt = 0
        renewed = False
        while True:
            headers = dict(kw.pop("headers", None) or {})
            if method not in ("GET", "HEAD") and not self.token:
                csrf = self.http.cookies.get("csrftoken")
                if csrf:
                    headers["X-CSRFToken"] = csrf
            generation = self._session_generation
            try:
                request = self.http.build_request(method, path, headers=headers, **kw)
                response = self.http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise PortalError(0, "unreachable", f"{method} {path}: {exc!r}") from exc
                delay = backoff_delay(attempt)
                log.warning("%s %s failed (%s); retrying in %.2fs", method, path, type(exc).__name__, delay)
                self.sleep(delay)
                attempt += 1
                kw["headers"] = headers
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                delay = backoff_delay(attempt, retry_after=_retry_after(response))
                response.close()
                log.warning("%s %s answered %s; retrying in %.2fs", method, path, response.status_code, delay)
                self.sleep(delay)
                attempt += 1
                kw["headers"] = headers
                continue
            if response.status_code == 401 and relogin and not renewed and not self.token:
                response.close()
                self._renew(generation)
                renewed = True
                kw["headers"] = headers
                continue
            return response

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self._send(method, path, **kw)
        if response.status_code >= 400:
            raise _error_of(response)
        return response.json()

    # --- sign-in ------------------------------------------------------------------------------

    def _renew(self, generation: int) -> None:
        """Sign in again unless another thread already did since `generation` was read."""
        with self._login_lock:
            if self._session_generation == generation:
                self.http.cookies.clear()
                self._login()

    def login(self) -> dict[str, Any]:
        """Sign in (SIWE) or check the bearer token; returns GET /auth/me."""
        if not self.token:
            with self._login_lock:
                self._login()
        me = self._json("GET", "/auth/me")
        if me.get("address", "").lower() != self.address.lower():
            raise PortalError(
                403, "wrong_identity", f"the portal knows this credential as {me.get('address')}, not {self.address}"
            )
        return me

    def _login(self) -> None:
        nonce = self._json("GET", "/auth/siwe/nonce", relogin=False)["nonce"]
        chain_id = self.chain_id or 1
        text = siwe_message(portal_url=self.base_url, address=self.address, nonce=nonce, chain_id=chain_id)
        signature = self.account.sign_message(encode_defunct(text=text)).signature.hex()
        self._json(
            "POST",
            "/auth/siwe/verify",
            json={"message": text, "signature": "0x" + signature.removeprefix("0x")},
            relogin=False,
        )
        self._session_generation += 1
        log.info("signed in to %s as %s", self.base_url, self.address)

    # --- the validator API ------------------------------------------------------------------------

    def eip712(self) -> dict[str, Any]:
        return self._json("GET", "/quorums/eip712.json")

    def assignments(self, *, inline_max: int = 0) -> list[dict[str, Any]]:
        """Open assignments. `inline_max` asks the portal to include files up to that many bytes
        as `subject.content_base64` (saves a download each; portals that do not know the
        parameter ignore it and the node downloads as usual)."""
        params = {"inline_max": inline_max} if inline_max else None
        return self._json("GET", "/api/v1/validator/assignments", params=params)

    def submit(self, verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /api/v1/verdicts: one result per item, in order (resubmitting the same signed
        verdict is a no-op on the portal, so retrying a batch is safe)."""
        body = self._json("POST", "/api/v1/verdicts", json={"verdicts": verdicts})
        return body["results"]

    def minhashes(self, *, after: str | None = None) -> dict[str, Any] | None:
        """The portal's published MinHash signatures of accepted content, one page; None when
        the portal does not publish them (404/405)."""
        params = {"after": after} if after else {}
        response = self._send("GET", "/api/v1/minhashes", params=params)
        if response.status_code in (404, 405):
            return None
        if response.status_code >= 400:
            raise _error_of(response)
        return response.json()

    def download(self, url: str, sink: IO[bytes], *, max_bytes: int) -> Downloaded:
        """Stream a file into `sink` (rewound and truncated on every retry), hashing as it
        arrives. `url` is the portal-relative download URL from the assignment.
        The download view answers 404 to an unauthenticated caller; the node then checks its
        session (GET /auth/me renews it on 401) and tries once more."""
        for second_try in (False, True):
            response = self._send("GET", url, stream=True)
            try:
                if response.status_code == 404 and not second_try and not self.token:
                    response.close()
                    self._json("GET", "/auth/me")  # a 401 here signs in again
                    continue
                if response.status_code >= 400:
                    response.read()
                    error = _error_of(response)
                    if response.status_code == 404 and self.token:
                        error.detail += " (this portal may not accept bearer tokens for downloads: use SIWE)"
                    raise error
                sink.seek(0)
                sink.truncate()
                sha, kec, size = hashlib.sha256(), _keccak.new(digest_bits=256), 0
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(413, "too_large", f"{url} is larger than this node accepts ({max_bytes} bytes)")
                    sha.update(chunk)
                    kec.update(chunk)
                    sink.write(chunk)
                sink.flush()
                return Downloaded(size=size, sha256="0x" + sha.hexdigest(), keccak256="0x" + kec.hexdigest())
            except (httpx.TransportError, httpx.StreamError) as exc:
                raise PortalError(0, "download_interrupted", f"{url}: {exc!r}") from exc
            finally:
                response.close()
        raise PortalError(404, "not_found", f"{url} is not available to {self.address}")
