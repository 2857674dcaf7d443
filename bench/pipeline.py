"""Contribution pipeline benchmarks, each beside a baseline measured in the same run:

1. contributions/s from upload record to anchored outcome with ONE real Celery worker process
   (routing and closing through the Redis broker; three HTTP-only validator nodes, `python -m
   validator` processes against the portal served by gunicorn, download, check, sign and submit
   every round), beside the same work done in-process without the broker;
2. streaming a 1 GiB upload through Django's multipart parser with the hashing upload handler
   (SHA-256 + keccak-256 + staging write): speed beside `sha256sum` on the same file, and the
   parsing process's peak RSS. The file lives in a temporary directory and is deleted.

    .venv/bin/python bench/pipeline.py [--n 300] [--upload-mib 1024]

Uses its own database (bench_pipeline, recreated each run) and Redis database 14."""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ would come first on the path and its modules (bench/siwe.py) would shadow
# installed packages of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/bench_pipeline")
os.environ.setdefault(
    "SECRET_KEY", "bench-only-secret-key-never-deployed-0123456789abcdef"
)  # settings require one on PostgreSQL
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
os.environ.setdefault("PORTAL_HTTPS", "false")
os.environ.setdefault("PORTAL_VAR_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("SECRET_KEY", "bench-only-not-secret-" + "x" * 40)  # a throwaway database on this machine

BENCH_DB = os.environ["DATABASE_URL"]


def emit(figure: str, value: float, unit: str, baseline: float, target: dict, **extra: object) -> None:
    ratio = value / baseline if baseline else None
    print(
        json.dumps(
            {
                "bench": "pipeline",
                "figure": figure,
                "value": round(value, 3),
                "unit": unit,
                "baseline": round(baseline, 3),
                "ratio": round(ratio, 3) if ratio else None,
                "target": target,
                **extra,
            }
        ),
        flush=True,
    )


# --- upload child: runs in its own process so its peak RSS is the upload path's alone ----------


class MultipartStream:
    """A multipart body read lazily: preamble, the file's bytes from disk, epilogue."""

    def __init__(self, path: str, boundary: str) -> None:
        self.head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.fh = open(path, "rb")  # noqa: SIM115
        self.size = len(self.head) + os.path.getsize(path) + len(self.tail)
        self.stage = 0

    def read(self, n: int = -1) -> bytes:
        out = b""
        while (n < 0 or len(out) < n) and self.stage < 3:
            want = -1 if n < 0 else n - len(out)
            if self.stage == 0:
                out += self.head
                self.stage = 1
            elif self.stage == 1:
                chunk = self.fh.read(want if want > 0 else 1 << 20)
                if chunk:
                    out += chunk
                else:
                    self.stage = 2
            else:
                out += self.tail
                self.stage = 3
        return out


def upload_child(path: str) -> None:
    import django

    django.setup()
    from django.http.multipartparser import MultiPartParser

    from contributions.uploads import HashingUploadHandler

    boundary = "benchBOUNDARY7MA4YWxkTrZu0gW"
    stream = MultipartStream(path, boundary)
    meta = {"CONTENT_TYPE": f"multipart/form-data; boundary={boundary}", "CONTENT_LENGTH": str(stream.size)}
    handler = HashingUploadHandler()
    handler.limit = stream.size
    start = time.perf_counter()
    _post, files = MultiPartParser(meta, stream, [handler], "utf-8").parse()
    elapsed = time.perf_counter() - start
    upload = files["file"]
    sha = upload.sha256
    upload.discard()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "sha256": sha, "peak_rss_mb": peak_kib / 1024}))


def idle_child() -> None:
    import django

    django.setup()
    from django.http.multipartparser import MultiPartParser  # noqa: F401

    import contributions.uploads  # noqa: F401

    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def bench_upload(mib: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        path = os.path.join(tmp, "big.bin")
        block = os.urandom(1 << 20)
        with open(path, "wb") as fh:
            for i in range(mib):
                fh.write(block[:-8] + i.to_bytes(8, "big"))
        subprocess.run(["sha256sum", path], check=True, capture_output=True)  # warm the page cache
        # Interleaved, best of three for both, so a noisy neighbour on the machine skews neither.
        baseline_s, runs = float("inf"), []
        for _ in range(3):
            start = time.perf_counter()
            out = subprocess.run(["sha256sum", path], check=True, capture_output=True, text=True).stdout
            baseline_s = min(baseline_s, time.perf_counter() - start)
            child = subprocess.run(
                [sys.executable, __file__, "--upload-child", path], check=True, capture_output=True, text=True
            )
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        result = {
            "seconds": min(r["seconds"] for r in runs),
            "sha256": runs[0]["sha256"],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        }
        idle = json.loads(
            subprocess.run([sys.executable, __file__, "--idle-child"], check=True, capture_output=True, text=True)
            .stdout.strip()
            .splitlines()[-1]
        )
    assert result["sha256"] == "0x" + out.split()[0], "hash mismatch against sha256sum"
    size_mb = mib * (1 << 20) / 1e6
    emit(
        "upload_hash_speed",
        size_mb / result["seconds"],
        "MB/s",
        size_mb / baseline_s,
        {"ratio": ">= 0.7"},
        file_mib=mib,
        runs=[round(size_mb / r["seconds"], 1) for r in runs],
        note="multipart parse + SHA-256 + keccak-256 + write to storage, vs sha256sum; best of 3 each, interleaved",
    )
    emit(
        "upload_peak_rss",
        result["peak_rss_mb"],
        "MB",
        idle["peak_rss_mb"],
        {"value": "<= 100"},
        file_mib=mib,
        note="baseline: the same process with Django loaded and no upload",
    )


# --- pipeline ---------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _group_cpu_seconds(session: int) -> float:
    """CPU of every live process in a session (gunicorn's master and its workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  our own local server
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _wait_until_started(logs: list[Path], pids: list[int], session: int, timeout: float = 120) -> None:
    """Return once every party has finished starting, so the measured window holds the pipeline's
    work and not start-up: each validator node has signed in (its log says "validating at"), then
    the CPU of the worker, the nodes and gunicorn has settled (under a fifth of a core over half a
    second; booting workers, imports and the nodes' sign-ins take a core or more each)."""
    deadline = time.monotonic() + timeout

    def signed_in(log: Path) -> bool:
        return log.exists() and "validating at" in log.read_text(errors="replace")

    while not all(signed_in(log) for log in logs):
        if time.monotonic() > deadline:
            raise RuntimeError(f"validator nodes did not sign in within {timeout}s; see {logs}")
        time.sleep(0.1)

    def cpu() -> float:
        return sum(_cpu_seconds(pid) for pid in pids) + _group_cpu_seconds(session)

    last = cpu()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu()
        if now - last < 0.1:
            return
        last = now
    raise RuntimeError(f"the portal's processes were still busy after {timeout}s")


def recreate_database() -> None:
    import psycopg

    name = BENCH_DB.rsplit("/", 1)[1]
    admin = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def inprocess_validators(accounts: list) -> None:
    """The in-process baseline of the three nodes: for each account, its assignments (the same
    selectors the API uses), the bytes through the storage API, the node's own checks
    (validator.checks.run_all and decide), the same EIP-712 signature, submitted in batches of
    100 with verdicts_submit; no HTTP, no processes. Equal work to the nodes minus the wire."""
    from quorums.eip712 import sign_verdict, verdict_typed_data
    from quorums.selectors import assignment_list, subject_contents, subject_facts
    from quorums.services import verdicts_submit
    from validator.checks import decide, run_all
    from validator.checks.base import Content, Expected

    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as tmp:
        for account in accounts:
            while True:
                seats = list(assignment_list(address=account.address, limit=200))
                if not seats:
                    break
                rounds = [seat.round for seat in seats]
                facts = subject_facts(rounds)
                contents = subject_contents(rounds, facts, max_bytes=1 << 20, max_total=1 << 30)
                items = []
                for seat in seats:
                    r, subject = seat.round, facts[seat.round.pk]
                    content = Content.from_bytes(
                        contents[r.pk],
                        Path(tmp) / "f",
                        name=subject.get("original_name") or "",
                        declared_type=subject.get("declared_type") or "",
                    )
                    expected = Expected(
                        content_hash=r.content_hash,
                        sha256=subject.get("sha256"),
                        keccak256=subject.get("keccak256"),
                        size=subject.get("size"),
                        owner=subject.get("owner") or "",
                    )
                    verdict, reason = decide(run_all(content, expected))
                    typed = verdict_typed_data(
                        validator=seat.address,
                        round_id=r.pk,
                        content_hash=r.content_hash,
                        verdict=verdict,
                        reason=reason,
                    )
                    items.append(
                        {"round_id": r.pk, "message": typed["message"], "signature": sign_verdict(account.key, typed)}
                    )
                for i in range(0, len(items), 100):
                    verdicts_submit(items=items[i : i + 100], automated=True)


def bench_pipeline(
    n: int, uploaders: int, web_workers: int, web_threads: int, node_concurrency: int, node_max_interval: float
) -> None:
    recreate_database()
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from eth_account import Account

    from contributions.models import Contribution
    from contributions.services import contribution_create, contribution_route
    from dats.models import DAT
    from idaos.models import IDAO, Membership
    from portal.models import User
    from quorums import services
    from quorums.models import QuorumTrust, Round
    from tests.quorums.factories import staged

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    owner = User.objects.create_user(Account.from_key(b"\x01" * 32).address)
    staff = User.objects.create_user(Account.from_key(b"\x02" * 32).address, is_staff=True)
    idao = IDAO.objects.create(slug="bench", name="Bench", domain="science", created_by=owner)
    Membership.objects.create(idao=idao, user=owner, status="active")
    quorum = services.quorum_create(actor=staff, name="Bench quorum", committee_size=3, min_bond=100)
    QuorumTrust.objects.create(idao=idao, quorum=quorum)
    accounts = services.demo_validators(quorum_id=quorum.pk, count=3)

    def create(batch: str, i: int) -> Contribution:
        return contribution_create(
            idao_slug="bench",
            owner=owner,
            upload=staged(f"{batch},{i}\n".encode() * 4),
            kind="dataset",
            title=f"{batch} {i}",
            licence="MIT",
            usage_policy={"allowed_uses": ["training"]},
        )

    # Baseline: the same services in this process, no broker hop, no worker.
    start = time.perf_counter()
    made = [create("inline", i) for i in range(n)]
    for c in made:
        contribution_route(contribution_id=c.pk)
    inprocess_validators(accounts)
    for r in Round.objects.filter(state="open").values_list("pk", flat=True):
        services.round_close(round_id=r)
    baseline_s = time.perf_counter() - start
    assert Contribution.objects.filter(state="accepted").count() == n
    broker.flushdb()

    env = {**os.environ, "CONN_MAX_AGE": "60"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "-Q",
            "celery",
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    errors: list[BaseException] = []

    def record_uploads(indexes: range) -> None:
        """One uploading client (a web request thread in production): records its uploads one
        after the other, each its own transaction, as the upload view does."""
        from django.db import connection

        try:
            for i in indexes:
                create("worker", i)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    # The portal serves HTTP as in production (gunicorn); the automated validators are outsiders:
    # one `python -m validator` process per key, knowing only the portal's URL and their key (no
    # database URL, no Django settings, no media path), polling every 50 ms.
    port = _free_port()
    portal_url = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(web_workers),
            "--threads",
            str(web_threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "portal.wsgi:application",
        ],
        cwd=ROOT,
        env={**env, "STATIC_MANIFEST": "false"},
        start_new_session=True,
    )
    keys = tempfile.TemporaryDirectory(prefix="bench-validators-")
    node_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": keys.name, "LANG": "C.UTF-8"}
    nodes = []
    try:
        _wait_http(f"{portal_url}/healthz")
        for i, account in enumerate(accounts):
            key_file = Path(keys.name) / f"validator-{i}.hex"
            key_file.write_text(account.key.hex())
            # The node's log (stderr) says when it has signed in: _wait_until_started reads it.
            with (Path(keys.name) / f"node-{i}.log").open("w") as log:
                nodes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "validator",
                            "--portal",
                            portal_url,
                            "--key-file",
                            str(key_file),
                            "--interval",
                            "0.05",
                            "--max-interval",
                            str(node_max_interval),
                            "--concurrency",
                            str(node_concurrency),
                            "--cache-dir",
                            str(Path(keys.name) / f"cache-{i}"),
                        ],
                        cwd=ROOT,
                        env=node_env,
                        start_new_session=True,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
    except BaseException:
        for proc in [*nodes, web, worker]:
            os.killpg(proc.pid, signal.SIGTERM)
        raise
    try:
        _wait_until_started(
            [Path(keys.name) / f"node-{i}.log" for i in range(len(nodes))],
            [proc.pid for proc in [*nodes, worker]],
            web.pid,
        )
        cpu_before = {proc.pid: _cpu_seconds(proc.pid) for proc in [*nodes, worker]}
        web_before = _group_cpu_seconds(web.pid)
        bench_before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        threads = [threading.Thread(target=record_uploads, args=(range(u, n, uploaders),)) for u in range(uploaders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        created_s = time.perf_counter() - start
        assert not errors, errors
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = Round.objects.filter(
                subject_ref__gte="0", state="closed", anchor_leaf_id__isnull=False, subject_kind="contribution"
            ).count()
            if done >= 2 * n:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        # CPU spent during the measured window only (not process start-up).
        worker_cpu = _cpu_seconds(worker.pid) - cpu_before[worker.pid]
        nodes_cpu = sum(_cpu_seconds(node.pid) - cpu_before[node.pid] for node in nodes)
        web_cpu = _group_cpu_seconds(web.pid) - web_before
        bench_after = resource.getrusage(resource.RUSAGE_SELF)
        bench_cpu = (bench_after.ru_utime + bench_after.ru_stime) - (bench_before.ru_utime + bench_before.ru_stime)
    finally:
        for proc in [*nodes, web, worker]:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*nodes, web, worker]:
            proc.wait(timeout=30)
        keys.cleanup()
    accepted = Contribution.objects.filter(title__startswith="worker", state="accepted").count()
    assert accepted == n, f"only {accepted} of {n} contributions were accepted"
    minted = DAT.objects.filter(contribution__title__startswith="worker", anchor_leaf_id__gt=0).count()
    assert minted == n, f"only {minted} of {n} accepted contributions have an anchored DAT"
    emit(
        "pipeline_throughput",
        n / elapsed,
        "contributions/s",
        n / baseline_s,
        {"value": ">= 100"},
        contributions=n,
        accepted=accepted,
        workers=1,
        validator_nodes=3,
        uploaders=uploaders,
        seconds=round(elapsed, 2),
        upload_records_s=round(created_s, 2),
        worker_cpu_ms_per_contribution=round(1000 * worker_cpu / n, 1),
        validator_nodes_cpu_ms_per_contribution=round(1000 * nodes_cpu / n, 1),
        web_cpu_ms_per_contribution=round(1000 * web_cpu / n, 1),
        web_workers=web_workers,
        web_threads=web_threads,
        recording_cpu_ms_per_contribution=round(1000 * bench_cpu / n, 1),
        note="upload record (contribution_create, one transaction each) -> routed by the worker -> 3 HTTP-only "
        "validator nodes (python -m validator processes: SIWE session, GET assignments, download each file, "
        "re-hash, run the checks, sign, POST /api/v1/verdicts batches) against gunicorn -> closed by the worker, "
        "slashes, anchored, DAT minted and anchored; baseline: the same services in-process without the broker, "
        "the nodes' own checks and signatures called in-process (bench.pipeline.inprocess_validators)",
    )
    broker.flushdb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--upload-mib", type=int, default=1024)
    parser.add_argument("--upload-child")
    parser.add_argument("--idle-child", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument(
        "--uploaders",
        type=int,
        default=4,
        help="concurrent uploading clients recording the contributions (threads of this process)",
    )
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers serving the validator nodes")
    parser.add_argument("--web-threads", type=int, default=1, help="gunicorn threads per worker (gthread when > 1)")
    parser.add_argument("--node-concurrency", type=int, default=2, help="assignments each node checks at once")
    parser.add_argument(
        "--node-max-interval", type=float, default=0.4, help="idle polls back off from 50 ms up to this (s)"
    )
    args = parser.parse_args()
    if args.upload_child:
        upload_child(args.upload_child)
        return
    if args.idle_child:
        idle_child()
        return
    if not args.skip_upload:
        bench_upload(args.upload_mib)
    if not args.skip_pipeline:
        bench_pipeline(
            args.n, args.uploaders, args.web_workers, args.web_threads, args.node_concurrency, args.node_max_interval
        )


if __name__ == "__main__":
    main()
