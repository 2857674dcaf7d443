"""The node takes accepted content's MinHash signatures from the portal when it publishes them
(GET /api/v1/minhashes, paged by cursor; docs/validator.md gives the format), and carries on
without them when the portal does not (404)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.validator.test_checks import prose
from validator.checks import Content
from validator.checks.duplicates import SCHEME, near_duplicate, signature
from validator.config import Config
from validator.node import Node

KEY = "0x" + "42" * 32


def publishing(pages: dict[str | None, dict] | None):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            after = parse_qs(url.query).get("after", [None])[0]
            self.server.asked.append(after)
            if pages is None or url.path != "/api/v1/minhashes":
                status, body = 404, {"error": "not_found", "detail": "Not found."}
            else:
                status, body = 200, pages[after]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.asked = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def stop():
    servers = []
    yield servers.append
    for s in servers:
        s.shutdown()
        s.server_close()


def test_published_signatures_are_read_page_by_page_and_flag_a_near_copy(tmp_path, stop):
    a = Content.from_bytes(prose(11).encode(), tmp_path / "a.txt", name="a.txt")
    b = Content.from_bytes(prose(12).encode(), tmp_path / "b.txt", name="b.txt")
    item = lambda dat, c: {"dat": dat, "content_hash": c.sha256, "owner": "0xA", "minhash": signature(c, "text")}  # noqa: E731
    server = publishing(
        {
            None: {"scheme": SCHEME, "items": [item("dat-a", a)], "next": "c1"},
            "c1": {"scheme": SCHEME, "items": [item("dat-b", b)], "next": None},
        }
    )
    stop(server)
    node = Node(Config(portal=f"http://127.0.0.1:{server.server_port}", key=KEY, cache_dir=tmp_path / "cache"))
    try:
        node.sync_minhashes()
    finally:
        node.close()
    assert server.asked == [None, "c1"] and len(node.index) == 2
    copy = Content.from_bytes((prose(12) + " and a last line").encode(), tmp_path / "c.txt", name="c.txt")
    result = near_duplicate(copy, "text", index=node.index, owner="0xB")
    assert (result.code, result.figures["of"], result.figures["source"]) == ("near_duplicate", "dat-b", "portal")


def test_a_portal_that_publishes_no_signatures_is_probed_again_later(tmp_path, stop):
    server = publishing(None)
    stop(server)
    node = Node(Config(portal=f"http://127.0.0.1:{server.server_port}", key=KEY, cache_dir=tmp_path / "cache"))
    try:
        node.sync_minhashes()
        node.sync_minhashes()  # within the minute: not asked again
    finally:
        node.close()
    assert server.asked == [None] and len(node.index) == 0
