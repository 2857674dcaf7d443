"""The compose reverse proxy (deploy/nginx/portal.conf) in front of gunicorn (deploy/gunicorn.conf.py),
both real processes on loopback: slow clients cannot stall the portal (issue 11, point 10)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from django.conf import settings

from tests.celery_helpers import wait_for

from .processes import (
    ROOT,
    embedded_env,
    free_port,
    get,
    nginx_config,
    start_gunicorn,
    start_nginx,
    stop,
    wait_until_answers,
)

SLOW_CLIENTS = 50
PROBES = 20
PROBE_BUDGET = 0.2  # seconds
PROBE_SOURCE = "127.0.0.2"  # another client address than the slow ones (the per-IP limit is theirs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """gunicorn with the deploy config but few threads (1 worker x 4: easy to exhaust), and nginx
    with the compose proxy config in front of it. Yields (proxy port, gunicorn port)."""
    tmp = tmp_path_factory.mktemp("proxy")
    up, port = free_port(), free_port()
    web = start_gunicorn(up, embedded_env(tmp / "var"), tmp / "gunicorn.log", "--workers", "1", "--threads", "4")
    proxy = None
    try:
        wait_until_answers(up, proc=web)
        proxy = start_nginx(nginx_config(tmp / "nginx", listen=port, upstream=up))
        wait_until_answers(port, proc=proxy)
        yield port, up
    finally:
        if proxy is not None:
            stop(proxy, timeout=10)
        stop(web)


class SlowClients:
    """`n` connections that trickle their request one byte every half second for at most
    `seconds`: half of them trickle headers, half send headers then trickle a large body.
    `responses` collects the status line of any that got an answer."""

    def __init__(self, port: int, n: int, *, bodies_only: bool = False, seconds: float = 30.0) -> None:
        self.port, self.n, self.bodies_only, self.seconds = port, n, bodies_only, seconds
        self.stop = threading.Event()
        self.connected = 0
        self.responses: list[bytes] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(n)]

    def run(self, i: int) -> None:
        slow_body = self.bodies_only or i % 2
        with socket.create_connection(("127.0.0.1", self.port), timeout=self.seconds) as sock:
            if slow_body:
                sock.sendall(
                    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 1000000\r\n\r\n"
                )
                trickle = b"a"
            else:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                trickle = b"X"
            with self.lock:
                self.connected += 1
            sock.setblocking(False)
            deadline = time.monotonic() + self.seconds
            while time.monotonic() < deadline and not self.stop.is_set():
                try:
                    answer = sock.recv(64)
                    if answer or answer == b"":
                        with self.lock:
                            self.responses.append(answer.split(b"\r\n", 1)[0])
                        return
                except BlockingIOError:
                    pass
                try:
                    sock.send(trickle)
                except OSError:
                    return
                self.stop.wait(0.5)

    def __enter__(self) -> SlowClients:
        for t in self.threads:
            t.start()
        wait_for(lambda: self.connected == self.n, timeout=20, interval=0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(self.seconds + 5)


def probe_times(port: int) -> list[float]:
    times = []
    for _ in range(PROBES):
        status, body, seconds = get(port, "/healthz", timeout=2, source=PROBE_SOURCE)
        assert (status, body) == (200, b'{"status": "ok"}')
        times.append(seconds)
        time.sleep(0.05)
    return times


@pytest.mark.slow
def test_fifty_slow_clients_through_the_proxy_do_not_delay_healthz_beyond_200_ms(stack):
    port, _up = stack
    with SlowClients(port, SLOW_CLIENTS):
        # Every slow client has started its request (and trickles on) while the probes run.
        times = probe_times(port)
    assert max(times) < PROBE_BUDGET, times


@pytest.mark.slow
def test_without_the_proxy_the_same_slow_clients_stall_gunicorn(stack):
    """The control: the proxy is what protects gunicorn's threads."""
    _port, up = stack
    with SlowClients(up, SLOW_CLIENTS, seconds=15), pytest.raises(OSError):  # timeout: no thread is free
        get(up, "/healthz", timeout=2, source=PROBE_SOURCE)


@pytest.mark.slow
def test_one_address_holding_too_many_connections_gets_429_beyond_the_per_ip_limit(stack):
    port, _up = stack
    limit = int(re.search(r"limit_conn portal_per_ip (\d+);", (ROOT / "deploy/nginx/portal.conf").read_text())[1])
    with SlowClients(port, limit + 8, bodies_only=True) as clients:
        wait_for(lambda: len(clients.responses) >= 8, timeout=20, interval=0.05)
        assert get(port, "/healthz", timeout=2, source=PROBE_SOURCE)[0] == 200  # other addresses are served
    assert clients.responses == [b"HTTP/1.1 429 Too Many Requests"] * 8


def test_a_body_over_the_upload_limit_is_refused_by_the_proxy_with_413(stack):
    port, _up = stack
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /contribute HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (3 * 1024**3))
        assert sock.recv(64).startswith(b"HTTP/1.1 413")


def test_the_proxy_body_limit_matches_the_portal_upload_limit():
    conf = (ROOT / "deploy/nginx/portal.conf").read_text()
    limit = int(re.search(r"client_max_body_size (\d+)m;", conf)[1]) * 1024**2
    # The whole multipart body: the largest accepted file plus at most 64 MiB of envelope and fields.
    assert settings.PORTAL_MAX_UPLOAD_BYTES < limit <= settings.PORTAL_MAX_UPLOAD_BYTES + 64 * 1024**2


def test_compose_puts_the_proxy_config_in_front_of_gunicorn_with_the_deploy_config(compose):
    proxy = compose["services"]["proxy"]
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in proxy["volumes"]]
    assert f"{ROOT}/deploy/nginx/portal.conf:/etc/nginx/conf.d/default.conf:ro" in mounts, mounts
    assert "ports" not in compose["services"]["web"]  # only the proxy is published
    assert compose["services"]["web"]["command"][:3] == ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
