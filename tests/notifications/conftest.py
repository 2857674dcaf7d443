"""Real counterparts for the notification channels: an SMTP server (aiosmtpd) and an HTTP
receiver that checks X-Portal-Signature, both listening on 127.0.0.1 in the test process."""

from __future__ import annotations

import email
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications import webhooks


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    """A real SMTP server; Django's SMTP backend is pointed at it for the test."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    with socket.socket() as probe:  # aiosmtpd's readiness check connects to the port it was given
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield box
    controller.stop()


class Receiver:
    """Answers POSTs with the next status of `script` (then `default`) and records each request
    with whether its signature verified against `secret`."""

    def __init__(self) -> None:
        self.secret = ""
        self.script: list[int] = []
        self.default = 200
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        # When set, the first request is recorded and then held (no answer) until this is set.
        self.hold_first: threading.Event | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signature = self.headers.get("X-Portal-Signature", "")
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.default
                    receiver.requests.append(
                        {
                            "body": body,
                            "signature": signature,
                            "verified": webhooks.verify(receiver.secret, signature, body),
                            "kind": self.headers.get("X-Portal-Event"),
                            "delivery": self.headers.get("X-Portal-Delivery"),
                            "status": status,
                        }
                    )
                    hold = receiver.hold_first if len(receiver.requests) == 1 else None
                if hold is not None:
                    hold.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def kinds(self) -> list[str]:
        with self.lock:
            return [r["kind"] for r in self.requests]


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def private_targets(settings):
    """The delivery tests post to 127.0.0.1: the operator's explicit opt-in to private targets."""
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = True
    settings.NOTIFICATIONS_WEBHOOK_RETRY_BASE = 0.05
    return settings


@pytest.fixture
def worker(broker, celery_worker):
    return celery_worker
