"""The node's HTTP client against a real HTTP server that misbehaves the way portals do:
5xx, 429 with Retry-After, a port that is not listening yet."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from validator.client import PortalClient, PortalError, backoff_delay

KEY = "0x" + "42" * 32


class Script(BaseHTTPRequestHandler):
    """Answers GET requests with the next (status, headers) of the server's script, then 200."""

    def do_GET(self) -> None:
        server = self.server
        server.seen.append(self.path)
        status, headers = server.script.pop(0) if server.script else (200, {})
        body = json.dumps({"ok": True} if status == 200 else {"error": "busy", "detail": "try later"}).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(script: list, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Script)
    server.script, server.seen = list(script), []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def servers():
    started: list[ThreadingHTTPServer] = []
    yield started
    for s in started:
        s.shutdown()
        s.server_close()


def test_5xx_and_429_are_retried_with_backoff_honouring_retry_after(servers):
    server = serve([(503, {}), (429, {"Retry-After": "1"}), (502, {})])
    servers.append(server)
    slept: list[float] = []
    client = PortalClient(f"http://127.0.0.1:{server.server_port}", key=KEY, token="t", sleep=slept.append)
    assert client._json("GET", "/x") == {"ok": True}
    assert len(server.seen) == 4 and len(slept) == 3
    assert slept[1] >= 1.0  # Retry-After
    assert 0 <= slept[0] <= 0.25 and 0 <= slept[2] <= 1.0  # full jitter under base·2^attempt


def test_retries_end_with_the_portals_error(servers):
    server = serve([(503, {})] * 10)
    servers.append(server)
    client = PortalClient(
        f"http://127.0.0.1:{server.server_port}", key=KEY, token="t", max_retries=2, sleep=lambda s: None
    )
    with pytest.raises(PortalError) as caught:
        client._json("GET", "/x")
    assert (caught.value.status, caught.value.code) == (503, "busy") and len(server.seen) == 3


def test_a_portal_that_is_down_is_waited_for_until_it_listens(servers):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the portal comes back while the node backs off
        waits.append(seconds)
        if len(waits) == 2:
            servers.append(serve([], port=port))

    client = PortalClient(f"http://127.0.0.1:{port}", key=KEY, token="t", sleep=sleep)
    assert client._json("GET", "/x") == {"ok": True}
    assert len(waits) == 2


def test_an_unreachable_portal_is_an_error_after_the_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PortalClient(f"http://127.0.0.1:{port}", key=KEY, token="t", max_retries=1, sleep=lambda s: None)
    with pytest.raises(PortalError) as caught:
        client._json("GET", "/x")
    assert caught.value.code == "unreachable"


def test_backoff_grows_exponentially_up_to_its_cap():
    for attempt in range(12):
        for _ in range(50):
            assert 0 <= backoff_delay(attempt, base=0.5, cap=8) <= min(8, 0.5 * 2**attempt)
    assert backoff_delay(0, retry_after=3) >= 3


def test_a_bearer_token_is_sent_on_every_request(servers):
    seen_headers: list[str] = []

    class Echo(Script):
        def do_GET(self) -> None:
            seen_headers.append(self.headers.get("Authorization", ""))
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.script, server.seen = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    client = PortalClient(f"http://127.0.0.1:{server.server_port}", key=KEY, token="tok123")
    client._json("GET", "/api/v1/validator/assignments")
    assert seen_headers == ["Bearer tok123"]


def test_idle_polls_back_off_from_the_interval_up_to_the_maximum(tmp_path):
    from validator.config import Config
    from validator.node import Node

    steady = Node(Config(portal="http://127.0.0.1:9", key=KEY, interval=2.0, cache_dir=tmp_path / "a"))
    backing = Node(
        Config(portal="http://127.0.0.1:9", key=KEY, interval=0.05, max_interval=0.4, cache_dir=tmp_path / "b")
    )
    try:
        assert [steady.idle_wait(i) for i in range(4)] == [2.0, 2.0, 2.0, 2.0]
        assert [backing.idle_wait(i) for i in range(6)] == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    finally:
        steady.close()
        backing.close()
