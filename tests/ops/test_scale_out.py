"""Scale-out: two gunicorn processes, two Celery worker processes and one beat against one
PostgreSQL and one Redis, as a load-balanced deployment runs them. Votes, uploads (checked by
HTTP-only validator nodes) and usage reports go to both web processes; every effect happens once."""

from __future__ import annotations

import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from contributions.models import Contribution
from dats.models import DAT
from idaos import eip712
from idaos.models import Ballot, Proposal, VotingPower
from ledger import owners, selectors
from ledger import services as ledger
from ledger.models import Transaction
from ledger.verify import ledger_verify
from portal.models import ApiToken
from quorums.models import Round, Validator
from rewards.models import Epoch, UsageEvent
from tests.celery_helpers import wait_for
from tests.personas import BOB, many
from tests.quorums.factories import member, setup_network
from tests.rewards.factories import make_dat, make_model

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
EPOCH_SECONDS = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _token(user, scopes: list[str]) -> str:
    raw, prefix, key_hash = ApiToken.generate()
    ApiToken.objects.create(user=user, name="scale-out", prefix=prefix, key_hash=key_hash, scopes=scopes)
    return raw


class Cluster:
    """The processes of one deployment, each in its own process group (killed at the end)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CONN_MAX_AGE": "60",
            "STATIC_MANIFEST": "false",
            "REWARDS_EPOCH_SECONDS": str(EPOCH_SECONDS),
            "DISABLE_SERVER_SIDE_CURSORS": "true",  # as behind PgBouncer in transaction mode
        }
        self.urls: list[str] = []

    def start(self, cmd: list[str], *, env: dict | None = None, log: str) -> None:
        out = (self.tmp / f"{log}.log").open("w")
        self.procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def web(self, name: str) -> str:
        port = _free_port()
        self.start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                "1",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "portal.wsgi:application",
            ],
            log=name,
        )
        url = f"http://127.0.0.1:{port}"
        self.urls.append(url)
        return url

    def worker(self, name: str) -> None:
        self.start(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--pool=solo",
                "-n",
                f"{name}@%h",
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            log=name,
        )

    def beat(self) -> None:
        self.start(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "beat",
                "-l",
                "WARNING",
                "-s",
                str(self.tmp / "celerybeat-schedule"),
            ],
            log="beat",
        )

    def node(self, i: int, persona, portal: str) -> None:
        key = self.tmp / f"validator-{i}.hex"
        key.write_text(persona.account.key.hex())
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.tmp), "LANG": "C.UTF-8"}
        self.start(
            [
                sys.executable,
                "-m",
                "validator",
                "--portal",
                portal,
                "--key-file",
                str(key),
                "--interval",
                "0.2",
                "--cache-dir",
                str(self.tmp / f"cache-{i}"),
            ],
            env=env,
            log=f"node-{i}",
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp.glob("*.log")))


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_two_web_and_two_worker_processes_count_every_vote_once_and_pay_each_epoch_once(tmp_path):
    # --- The world: an iDAO trusting a quorum of three validators; a contributor; 16 voters on an
    # active proposal; a pipeline reporting usage of a model built on a DAT. ---
    idao, quorum, validators = setup_network(3)
    bob = member(idao, BOB)
    upload_token = _token(bob, ["contributions:write"])
    voters = many(16, start=310_000)
    voter_tokens = {p.address: _token(member(idao, p), ["governance:write"]) for p in voters}
    now = timezone.now()
    proposal = Proposal.objects.create(
        idao=idao,
        author=bob,
        kind="signal",
        title="Scale out",
        state="active",
        voting_rule="one_member_one_vote",
        quorum_bps=0,
        approval_threshold_bps=5000,
        voting_starts_at=now - timedelta(seconds=5),
        voting_ends_at=now + timedelta(hours=1),
        activated_at=now,
        eligible_power=len(voters),
    )
    VotingPower.objects.bulk_create([VotingPower(proposal=proposal, voter=p.address, weight=1) for p in voters])
    pipeline = member(idao, many(1, start=320_000)[0])
    seats = [(v, int(v.stake), "approve") for v in Validator.objects.filter(quorum=quorum)]
    data = make_dat(idao=idao, owner=bob, seats=seats)
    model = make_model(
        idao=idao,
        artifact_hash=make_dat(idao=idao, owner=bob, seats=seats, klass="model").sha256,
        manifest=[f"dat:{data.pk}"],
    )
    ledger.mint(to=owners.user(pipeline.address), asset="CREDIT", amount=10**9, idempotency_key="scale-out:credit")
    usage_token = _token(pipeline, ["usage:report"])

    cluster = Cluster(tmp_path)
    try:
        web = [cluster.web("web-a"), cluster.web("web-b")]
        cluster.worker("worker-a")
        cluster.worker("worker-b")
        cluster.beat()
        wait_for(lambda: all(_healthy(u) for u in web), timeout=60, interval=0.2)
        for i, p in enumerate(validators):
            cluster.node(i, p, web[i % 2])

        # --- Votes: every ballot is sent to both web processes at once (a retrying client). ---
        ts = int(time.time())
        for i, p in enumerate(voters):
            message = {
                "voter": p.address,
                "idao": idao.slug,
                "proposal": proposal.pk,
                "choice": ("for", "against")[i % 2],
                "reason": "",
                "timestamp": ts,
            }
            body = json.dumps({"message": message, "signature": p.sign_typed(eip712.typed_data(message))})
            headers = {"Authorization": f"Bearer {voter_tokens[p.address]}", "Content-Type": "application/json"}
            for url in (web[i % 2], web[(i + 1) % 2]):
                response = requests.post(
                    f"{url}/api/v1/proposals/{proposal.pk}/votes", data=body, headers=headers, timeout=30
                )
                assert response.status_code in (201, 200, 409), response.text

        # --- Uploads, alternating between the web processes. ---
        for i in range(4):
            content = b"id,tag,reading\n" + b"".join(  # distinct files: no near-duplicate rejections
                f"{n},{secrets.token_hex(6)},{secrets.randbelow(10**6)}\n".encode() for n in range(40)
            )
            response = requests.post(
                f"{web[i % 2]}/api/v1/contributions/upload",
                headers={"Authorization": f"Bearer {upload_token}"},
                data={
                    "idao": idao.slug,
                    "kind": "dataset",
                    "title": f"wings {i}",
                    "licence": "CC-BY-4.0",
                    "allowed_uses": ["training"],
                },
                files={"file": (f"wings-{i}.csv", io.BytesIO(content), "text/csv")},
                timeout=60,
            )
            assert response.status_code == 201, response.text

        # --- Usage reports: each report to one process, then replayed to the other. ---
        for r in range(6):
            events = [
                {
                    "model_id": model.model_id,
                    "version": model.number,
                    "kind": "inference",
                    "units": 1 + e % 3,
                    "occurred_at": timezone.now().isoformat(),
                    "idempotency_key": f"report-{r}-event-{e}",
                }
                for e in range(50)
            ]
            for url in (web[r % 2], web[(r + 1) % 2]):
                response = requests.post(
                    f"{url}/api/v1/usage",
                    data=json.dumps({"events": events}),
                    headers={"Authorization": f"Bearer {usage_token}", "Content-Type": "application/json"},
                    timeout=60,
                )
                assert response.status_code == 200, response.text

        # --- Every effect once. ---
        def uploads_done() -> bool:
            done = Contribution.objects.filter(title__startswith="wings ", state="accepted", round__isnull=False)
            return done.count() == 4 and DAT.objects.filter(contribution__in=done, anchor_leaf_id__gt=0).count() == 4

        wait_for(uploads_done, timeout=240, interval=0.5)
        for c in Contribution.objects.filter(title__startswith="wings "):
            assert Round.objects.filter(subject_kind="contribution", subject_ref=str(c.pk)).count() == 1
            assert DAT.objects.filter(contribution=c).count() == 1
        ballots = Ballot.objects.filter(proposal=proposal, counted=True)
        assert sorted(ballots.values_list("voter", flat=True)) == sorted(p.address for p in voters)
        assert UsageEvent.objects.filter(report__isnull=False, idempotency_key__startswith="report-").count() == 300
        fee = sum((1 + e % 3) for e in range(50)) * 6
        assert Transaction.objects.filter(idempotency_key__startswith="rewards:usage-fee:").count() == 6
        assert selectors.balance(owners.user(pipeline.address), "CREDIT") == 10**9 - fee

        epoch = UsageEvent.objects.filter(idempotency_key="report-0-event-0").values_list("epoch", flat=True).first()
        wait_for(
            lambda: Epoch.objects.filter(pk=epoch, state="closed", payout_tx_id__isnull=False).exists(),
            timeout=3 * EPOCH_SECONDS + 60,
            interval=0.5,
        )
        for closed in Epoch.objects.filter(state="closed"):
            assert Transaction.objects.filter(kind="reward", memo=f"Rewards of epoch {closed.number}").count() == (
                1 if closed.payout_tx_id else 0
            )
        wait_for(lambda: selectors.queued_count() == 0, timeout=60, interval=0.5)
        report = ledger_verify()
        assert report.ok, report.problem
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
