"""Real processes for the operations tests: free ports, gunicorn and nginx on loopback, HTTP probes."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_env(var_dir: Path, **extra: str) -> dict:
    """The environment of the embedded default (SQLite and the filesystem broker under var_dir):
    the test services' URLs are removed."""
    drop = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PORTAL_VAR_DIR=str(var_dir), PORTAL_HTTPS="false", STATIC_MANIFEST="false", **extra)
    return env


def get(port: int, path: str, *, timeout: float = 5.0, source: str = "127.0.0.1", headers=None):
    """(status, body, seconds) of one GET on a fresh connection (from `source`, a loopback address)."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, body, time.monotonic() - started
    finally:
        conn.close()


def wait_until_answers(port: int, path: str = "/healthz", timeout: float = 60.0, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before answering")
        try:
            if get(port, path, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"nothing answered 200 on {path} at port {port} within {timeout}s")


def start_gunicorn(port: int, env: dict, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            str(ROOT / "deploy/gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def nginx_config(prefix: Path, *, listen: int, upstream: int) -> Path:
    """deploy/nginx/portal.conf as compose uses it, with the upstream and listen address replaced
    and every path nginx writes under `prefix`."""
    site = (ROOT / "deploy/nginx/portal.conf").read_text()
    site, n_up = re.subn(r"server web:8000;", f"server 127.0.0.1:{upstream};", site)
    site, n_listen = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", site)
    assert n_up == 1 and n_listen == 1, "deploy/nginx/portal.conf changed shape: update the test template"
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "portal.conf").write_text(site)
    temps = "\n".join(
        f"    {kind}_temp_path {prefix / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "logs/error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix / "logs/access.log"};
{temps}
    include {prefix / "portal.conf"};
}}
"""
    )
    return conf


def start_nginx(conf: Path) -> subprocess.Popen:
    prefix = conf.parent
    check = subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs/error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    return subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs/error.log")],
        stdout=(prefix / "logs/stdout.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
