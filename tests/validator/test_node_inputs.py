"""What the node takes from a portal beyond today's API, when the portal offers it: accepted
content's MinHash signatures (GET /api/v1/minhashes, paged by cursor; docs/validator.md gives
the format; a 404 means "not published") and small files inline in an assignment."""

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


def test_a_file_inline_in_the_assignment_is_checked_without_a_download(tmp_path):
    """The node asks for small files inline (`?inline_max=`); a portal that sends
    `subject.content_base64` saves the node a download, and the bytes are hashed like one."""
    import base64
    import hashlib

    from eth_account import Account

    from quorums.eip712 import publication, verdict_typed_data
    from validator.signing import VerdictSchema

    data = b"id,label\n1,cat\n2,dog\n3,bird\n"
    content_hash = "0x" + hashlib.sha256(data).hexdigest()
    address = Account.from_key(KEY).address
    node = Node(Config(portal="http://127.0.0.1:9", key=KEY, cache_dir=tmp_path))
    node.schema = VerdictSchema(publication())
    node.client.chain_id = 1
    assignment = {
        "round": 5,
        "content_hash": content_hash,
        "subject": {"content_base64": base64.b64encode(data).decode(), "original_name": "a.csv", "size": len(data)},
        "typed_data": verdict_typed_data(
            validator=address, round_id=5, content_hash=content_hash, verdict="approve", reason=""
        ),
    }
    other = "0x" + "00" * 32
    claimed_other = assignment | {
        "content_hash": other,
        "typed_data": verdict_typed_data(
            validator=address, round_id=5, content_hash=other, verdict="approve", reason=""
        ),
    }
    try:
        decision = node.check(assignment)
        tampered = node.check(assignment | {"content_hash": other})
        mismatch = node.check(claimed_other)
    finally:
        node.close()
    assert (decision.verdict, decision.reason) == ("approve", "ok: CSV, 3 rows × 2 columns")
    assert tampered is None  # its template's contentHash no longer matches: not signed
    assert mismatch.verdict == "reject" and mismatch.reason.startswith("hash_mismatch: ")
    assert list(tmp_path.glob("download-*")) == []  # the temporary file is gone
