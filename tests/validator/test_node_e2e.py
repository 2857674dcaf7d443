"""The validator node as an outsider runs it: a separate process that knows only the portal's
URL and its own key (no DATABASE_URL, no Django settings, no media path), against a live
server and a real Celery worker on PostgreSQL and Redis."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache

from contributions.models import Contribution
from contributions.services import contribution_route
from dats.models import DAT
from quorums.eip712 import publication
from quorums.models import Round, Verdict
from tests.celery_helpers import wait_for
from tests.personas import BOB
from tests.quorums.factories import member, setup_network
from validator.checks import reason_codes
from validator.config import Config
from validator.node import Decision, Node
from validator.signing import VerdictSchema

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

GOOD = b"id,species,wing_mm\n" + b"".join(f"{i},sparrow,{70 + i % 9}\n".encode() for i in range(40))
EMAILS = b"email\n" + b"".join(f"subscriber{i}@example.org\n".encode() for i in range(60))


def upload(client, idao, content: bytes, name: str) -> Contribution:
    f = io.BytesIO(content)
    f.name = name
    response = client.post(
        "/api/v1/contributions/upload",
        {
            "idao": idao.slug,
            "kind": "dataset",
            "title": name,
            "licence": "CC-BY-4.0",
            "allowed_uses": ["training"],
            "file": f,
        },
    )
    assert response.status_code == 201, response.content
    return Contribution.objects.get(public_id=response.json()["id"])


def node_env(home: Path) -> dict[str, str]:
    """What an outside operator's shell has: no portal settings, database or media path."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    assert not {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "MEDIA_ROOT", "PORTAL_VAR_DIR", "REDIS_URL"} & set(env)
    return env


def test_http_only_nodes_take_an_upload_to_an_accepted_round_and_reject_near_empty_and_email_files(
    live_server, broker, celery_worker, signed_in, tmp_path
):
    idao, _quorum, validators = setup_network(3)
    member(idao, BOB)
    bob = signed_in(BOB)
    good = upload(bob, idao, GOOD, "wings.csv")
    empty = upload(bob, idao, b"\n", "empty.csv")
    emails = upload(bob, idao, EMAILS, "subscribers.csv")
    ids = [good.pk, empty.pk, emails.pk]
    wait_for(lambda: Contribution.objects.filter(pk__in=ids, state="routed").count() == 3, timeout=60)

    nodes = []
    for i, p in enumerate(validators):
        key = tmp_path / f"validator-{i}.hex"
        key.write_text(p.account.key.hex())
        cmd = [sys.executable, "-m", "validator", "--portal", live_server.url, "--key-file", str(key), "--once"]
        cmd += ["--cache-dir", str(tmp_path / f"cache-{i}"), "--concurrency", "2"]
        nodes.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=node_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    logs = []
    for proc in nodes:
        out, _ = proc.communicate(timeout=120)
        logs.append(out)
        assert proc.returncode == 0, out
    for out in logs:  # one line per verdict
        assert sum("verdict round=" in line for line in out.splitlines()) == 3, out

    def outcome(c: Contribution) -> str | None:
        c.refresh_from_db()
        return c.state if c.state in ("accepted", "rejected") else None

    for c in (good, empty, emails):
        wait_for(lambda c=c: outcome(c), timeout=60)
    assert (good.state, empty.state, emails.state) == ("accepted", "rejected", "rejected")
    wait_for(lambda: DAT.objects.filter(contribution=good, anchor_leaf_id__gt=0).exists(), timeout=60)

    def verdicts(c: Contribution) -> list[Verdict]:
        return list(Verdict.objects.filter(round_id=c.round_id).select_related("validator"))

    assert {v.validator.address for v in verdicts(good)} == {p.address for p in validators}
    assert {(v.verdict, v.reason) for v in verdicts(good)} == {("approve", "ok: CSV, 40 rows × 3 columns")}
    assert {v.verdict for v in verdicts(empty)} == {"reject"}
    assert all(reason_codes(v.reason) == ["near_empty"] for v in verdicts(empty))
    assert all(reason_codes(v.reason) == ["pii"] and "60 of 60 records" in v.reason for v in verdicts(emails))
    rounds = Round.objects.in_bulk([good.round_id, empty.round_id, emails.round_id])
    assert [rounds[c.round_id].outcome for c in (good, empty, emails)] == ["accepted", "rejected", "rejected"]

    # The reason is what the contributor reads: the round page their contribution links to.
    mine = bob.get("/contributions/mine").content.decode()
    assert f"/rounds/{emails.round_id}/" in mine
    page = bob.get(f"/rounds/{emails.round_id}/").content.decode()
    assert "pii: 60 of 60 records (100%) hold personal data (email 60)" in page
    assert "near_empty: the file holds 0 non-whitespace bytes" in bob.get(f"/rounds/{empty.round_id}/").content.decode()


def node_for(live_server, persona, cache_dir: Path, **kw) -> Node:
    return Node(Config(portal=live_server.url, key=persona.account.key.hex(), cache_dir=cache_dir, concurrency=1, **kw))


def test_the_node_signs_in_again_when_the_portal_has_forgotten_its_session(live_server, broker, signed_in, tmp_path):
    idao, _quorum, validators = setup_network(3)
    member(idao, BOB)
    c = upload(signed_in(BOB), idao, GOOD, "wings.csv")
    contribution_route(contribution_id=c.pk)
    node = node_for(live_server, validators[0], tmp_path)
    try:
        node.start()
        Session.objects.all().delete()  # a portal restarted with a fresh session store
        cache.clear()
        assert node.run_once() == 1
    finally:
        node.close()
    c.refresh_from_db()
    v = Verdict.objects.get(round_id=c.round_id)
    assert (v.validator.address, v.verdict) == (validators[0].address, "approve")
    journal = [json.loads(line) for line in (tmp_path / "verdicts.jsonl").read_text().splitlines()]
    assert [row["round"] for row in journal] == [c.round_id] and journal[0]["signature"] == v.signature


def test_a_verdict_already_signed_is_resubmitted_from_the_journal_not_checked_again(
    live_server, broker, signed_in, tmp_path
):
    """Re-checking after a restart could give a different answer (the duplicate index grew);
    two different signed verdicts for one round would be equivocation."""
    idao, _quorum, validators = setup_network(3)
    member(idao, BOB)
    c = upload(signed_in(BOB), idao, GOOD, "wings.csv")
    contribution_route(contribution_id=c.pk)
    c.refresh_from_db()
    p = validators[1]
    node = node_for(live_server, p, tmp_path)
    try:
        node.start()
        template = node.client.assignments()[0]["typed_data"]["message"]
        schema = VerdictSchema(publication())
        message = schema.message(
            template,
            verdict="reject",
            reason="near_duplicate: signed before the restart",
            scores={c: 0 for c in ("authenticity", "ownership", "quality", "uniqueness")},
        )
        node.journal.record(
            Decision(c.round_id, "reject", message["reason"], message, schema.sign(p.account.key.hex(), message), [])
        )
        assert node.run_once() == 1
    finally:
        node.close()
    v = Verdict.objects.get(round_id=c.round_id)
    assert (v.verdict, v.reason) == ("reject", "near_duplicate: signed before the restart")
