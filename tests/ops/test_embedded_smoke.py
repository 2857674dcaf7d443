"""The real flow on the embedded default (issue 11, point 12): bin/run's processes (gunicorn,
Celery worker and beat on SQLite and the filesystem broker, demo validators run by beat), driven
over HTTP only, as a black box: sign in with SIWE, vote with a signed EIP-712 ballot, upload a
dataset that the demo quorum accepts into a DAT, see a reward epoch pay out, and
`manage.py verify_ledger` finds the ledger clean."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from tests.celery_helpers import wait_for

from .processes import ROOT, embedded_env, free_port, stop, wait_until_answers

ERIN = Account.from_key(bytes([0x55]) * 32)  # a demo member (README: the demo keys are public)


def siwe_text(host: str, address: str, nonce: str) -> str:
    now = datetime.now(UTC)
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"  # noqa: E731
    return "\n".join(
        [
            f"{host} wants you to sign in with your Ethereum account:",
            address,
            "",
            "Sign in to the iDAO Portal.",
            "",
            f"URI: http://{host}",
            "Version: 1",
            "Chain ID: 1",
            f"Nonce: {nonce}",
            f"Issued At: {stamp(now)}",
            f"Expiration Time: {stamp(now + timedelta(minutes=10))}",
        ]
    )


class Portal:
    """A requests session against the running portal, sending the CSRF token on unsafe methods."""

    def __init__(self, port: int) -> None:
        self.base, self.host, self.http = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", requests.Session()

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken", ""), "Referer": self.base + "/"}
        return self.http.post(self.base + path, headers=headers, timeout=60, **kw)


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("embedded")
    var, port = tmp / "var", free_port()
    # Reward epochs of 15 s instead of the demo's minute: the test waits for one that pays out.
    env = embedded_env(var, PORT=str(port), REWARDS_EPOCH_SECONDS="15")
    out = tmp / "bin-run.log"
    run = subprocess.Popen(
        [str(ROOT / "bin/run")],
        cwd=ROOT,
        env=env,
        stdout=out.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: "iDAO Portal is running" in out.read_text(errors="replace"), timeout=300, interval=0.5)
        wait_until_answers(port, timeout=60, proc=run)
        yield Portal(port), env, run
    finally:
        stop(run, signal.SIGINT, timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)


@pytest.mark.slow
def test_sign_in_vote_upload_to_dat_epoch_payout_and_a_clean_ledger_on_the_embedded_default(portal):
    site, env, run = portal

    # Sign-In with Ethereum.
    nonce = site.get("/auth/siwe/nonce").json()["nonce"]
    text = siwe_text(site.host, ERIN.address, nonce)
    signature = "0x" + ERIN.sign_message(encode_defunct(text=text)).signature.hex().removeprefix("0x")
    signed_in = site.post("/auth/siwe/verify", json={"message": text, "signature": signature})
    assert signed_in.status_code == 200, signed_in.text
    assert site.get("/auth/me").json()["address"] == ERIN.address

    # A signed ballot on the demo's active proposal.
    proposals = site.get("/api/v1/idaos/open-health/proposals").json()
    items = proposals["items"] if isinstance(proposals, dict) else proposals
    active = next(p for p in items if p["state"] == "active")
    spec = site.get("/governance/eip712.json").json()
    message = {
        "voter": ERIN.address,
        "idao": "open-health",
        "proposal": active["id"],
        "choice": "for",
        "reason": "smoke test",
        "timestamp": int(time.time()),
    }
    typed = {"types": spec["types"], "primaryType": spec["primaryType"], "domain": spec["domain"], "message": message}
    ballot_sig = "0x" + ERIN.sign_message(encode_typed_data(full_message=typed)).signature.hex().removeprefix("0x")
    voted = site.post(f"/api/v1/proposals/{active['id']}/votes", json={"message": message, "signature": ballot_sig})
    assert voted.status_code == 201, voted.text
    ballot = voted.json()["ballot"]
    assert (ballot["voter"], ballot["choice"], ballot["counted"]) == (ERIN.address, "for", True)
    assert site.get(voted.json()["receipt_url"]).status_code == 200

    # An upload: routed to the demo quorum, signed by its validators (run by beat), accepted, a DAT.
    content = b"id,label\n" + b"".join(b"%d,%s\n" % (i, b"cat" if i % 2 else b"dog") for i in range(500))
    content += str(time.time_ns()).encode()  # unique: not a duplicate of another upload
    uploaded = site.post(
        "/api/v1/contributions/upload",
        data={
            "idao": "open-health",
            "kind": "dataset",
            "title": "Smoke labels",
            "licence": "CC-BY-4.0",
            "allowed_uses": "training",
        },
        files={"file": ("labels.csv", io.BytesIO(content), "text/csv")},
    )
    assert uploaded.status_code == 201, uploaded.text
    public_id = uploaded.json()["id"]

    def accepted():
        mine = {c["id"]: c for c in site.get("/api/v1/contributions").json()}
        return mine[public_id] if mine[public_id]["state"] == "accepted" else None

    contribution = wait_for(accepted, timeout=240, interval=1)
    found = site.get("/api/v1/dats", params={"hash": contribution["sha256"]}).json()["results"]
    assert len(found) == 1, found
    dat = site.get(f"/api/v1/dats/{found[0]['tokenId']}").json()
    assert (dat["owner"], dat["idao"], dat["sha256"]) == (ERIN.address, "open-health", contribution["sha256"])
    # Its provenance bundle verifies once the block holding its anchor is sealed (every 5 s in the demo).
    verify = f"/api/v1/dats/{dat['tokenId']}/verify"
    assert wait_for(lambda: site.get(verify).json().get("valid") is True, timeout=60, interval=1), site.get(verify).text

    # A reward epoch closes (every 15 s here, every minute in the demo) and pays out.
    def paid():
        return [e for e in site.get("/api/v1/rewards/epochs").json() if e["state"] == "closed" and e["payouts"] > 0]

    assert wait_for(paid, timeout=240, interval=2)

    # Stop the portal (Ctrl-C), then verify the whole ledger.
    os.killpg(run.pid, signal.SIGINT)
    try:
        code = run.wait(timeout=60)
    except subprocess.TimeoutExpired:  # say which of bin/run's children did not stop
        left = subprocess.run(["ps", "-o", "pid,stat,etime,args", "-s", str(run.pid)], capture_output=True, text=True)
        pytest.fail(f"bin/run did not stop within 60 s of Ctrl-C; still running:\n{left.stdout}")
    assert code == 0
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_ledger"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert verified.returncode == 0, verified.stderr
    assert "Ledger verified" in verified.stdout
