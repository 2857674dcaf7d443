"""Signed votes per second through POST /api/v1/proposals/{id}/votes under gunicorn + PostgreSQL,
beside a bare-Django baseline measured in the same run (a view that verifies one EIP-712
signature and inserts one row), contract-wallet (ERC-1271) ballots per second against a local EVM
(py-evm over JSON-RPC, no target), and the proposal page's server time with 10,000 ballots.

    .venv/bin/python bench/votes.py [--voters 4000] [--rounds 6] [--clients 8] [--workers 2*cores+1] [--threads 1]
                                    [--contract-wallets 150]

Uses its own database (bench_idaos by default, migrated, idaos and ledger tables emptied each
run). This file is also the settings module and URLconf of the benchmark's gunicorn
(BENCH_VOTES_SITE=1): the portal's settings and URLs plus the baseline view, so the baseline
never reaches production URLs. Prints one JSON line per figure."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if os.environ.get("BENCH_VOTES_SITE") == "1":
    # --- Imported by gunicorn as DJANGO_SETTINGS_MODULE and ROOT_URLCONF -----------------------
    from django.db import connection as _connection
    from django.http import HttpRequest, JsonResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    from portal.settings import *  # noqa: F403

    ROOT_URLCONF = "bench.votes"

    @csrf_exempt
    def baseline_vote(request: HttpRequest) -> JsonResponse:
        """The floor: parse, verify one typed-data signature, insert one row."""
        import json

        from idaos.eip712 import verify

        data = json.loads(request.body)
        # The same (fast) signature check the vote endpoint uses, so the ratio measures the rest.
        voter, _digest = verify(data["message"], data["signature"])
        with _connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_baseline_vote (voter, body) VALUES (%s, %s)", [voter, request.body.decode()]
            )
        return JsonResponse({"voter": voter}, status=201)

    def __getattr__(name: str) -> object:
        # The URLconf is built on first use: including portal.urls needs the app registry, which
        # is not ready while this module is still being read as the settings.
        if name != "urlpatterns":
            raise AttributeError(name)
        patterns = [path("bench/baseline-vote", baseline_vote), path("", include("portal.urls"))]
        globals()["urlpatterns"] = patterns
        return patterns
else:
    # --- Run as a script -----------------------------------------------------------------------
    sys.path[0] = str(ROOT)  # the repo root, not bench/ (bench/siwe.py would shadow the siwe package)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/bench_idaos")
    os.environ.setdefault(
        "SECRET_KEY", "bench-only-secret-key-never-deployed-0123456789abcdef"
    )  # settings require one on PostgreSQL
    os.environ.setdefault("PORTAL_HTTPS", "false")
    os.environ.setdefault("STATIC_MANIFEST", "false")
    os.environ.setdefault("CONN_MAX_AGE", "60")
    # Production-like: Redis for the cache and sessions (cached_db), as docker-compose runs it.
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")


def _create_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    import argparse
    import http.client
    import json
    import signal
    import socket
    import statistics
    import subprocess
    import threading
    import time
    from datetime import timedelta

    parser = argparse.ArgumentParser()
    parser.add_argument("--voters", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=8)
    # gunicorn's documented starting point: (2 x cores) + 1 sync workers.
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread when > 1)")
    parser.add_argument("--page-ballots", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=6, help="session vote rounds, each after a baseline round")
    parser.add_argument("--contract-wallets", type=int, default=150, help="ERC-1271 ballots against the local EVM")
    parser.add_argument("--delegation-members", type=int, default=10_000)
    parser.add_argument("--delegations", type=int, default=5_000)
    parser.add_argument("--only-delegation", action="store_true", help="measure only the delegation figures")
    parser.add_argument("--only-votes", action="store_true", help="stop after the vote and ballot-service figures")
    args = parser.parse_args()

    db_url = os.environ["DATABASE_URL"]
    _create_database(db_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from idaos import eip712
    from idaos.models import Ballot, Membership, Proposal, VotingPower
    from idaos.services import proposals
    from idaos.services.idaos import idao_create
    from portal.models import ApiToken, User
    from tests.personas import many

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE idaos_ballot, idaos_votingpower, idaos_manifestentry, idaos_modelversion, idaos_aimodel,"
            " idaos_agentversion, idaos_agent, idaos_proposal, idaos_membership, idaos_idao, portal_apitoken,"
            " django_session, ledger_leaf, idaos_delegationshare, idaos_delegation, idaos_delegationnonce"
            " RESTART IDENTITY CASCADE"
        )
        cursor.execute("DROP TABLE IF EXISTS bench_baseline_vote")
        cursor.execute("CREATE TABLE bench_baseline_vote (id bigserial PRIMARY KEY, voter varchar(42), body text)")

    if args.only_delegation:
        delegation_figures(args)
        return

    # --- Data: one iDAO, N members with sessions or API tokens, one active proposal, pre-signed ballots ---
    people = many(args.voters, start=90_000)
    users = {p.address: User.objects.get_or_create(address=p.address)[0] for p in people}
    founder = users[people[0].address]
    idao = idao_create(
        creator=founder, slug="bench", name="Bench", domain="science", charter={"voting_period": 7200, "quorum_bps": 0}
    )
    past = timezone.now() - timedelta(seconds=5)
    Membership.objects.bulk_create(
        [
            Membership(idao=idao, user=users[p.address], status="active", requested_at=past, joined_at=past)
            for p in people[1:]
        ]
    )
    proposal = proposals.proposal_create(idao=idao, author=founder, kind="signal", title="Bench")
    tokens = {}
    rows = []
    for p in people:
        raw, prefix, key_hash = ApiToken.generate()
        tokens[p.address] = raw
        rows.append(
            ApiToken(user=users[p.address], name="bench", prefix=prefix, key_hash=key_hash, scopes=["governance:write"])
        )
    ApiToken.objects.bulk_create(rows)
    # Two more proposals for the page figure; their ballots are also the table's history, as a
    # live database would have (the vote rounds below do not start from an empty table).
    small = Proposal.objects.create(
        idao=idao,
        author=founder,
        kind="signal",
        title="Small",
        state="active",
        voting_rule="one_member_one_vote",
        quorum_bps=0,
        approval_threshold_bps=5000,
        voting_starts_at=timezone.now(),
        voting_ends_at=timezone.now() + timedelta(hours=1),
        activated_at=timezone.now(),
    )
    big = Proposal.objects.create(
        idao=idao,
        author=founder,
        kind="signal",
        title="Big",
        state="active",
        voting_rule="one_member_one_vote",
        quorum_bps=0,
        approval_threshold_bps=5000,
        voting_starts_at=timezone.now(),
        voting_ends_at=timezone.now() + timedelta(hours=1),
        activated_at=timezone.now(),
    )

    def fill(p: Proposal, n: int) -> None:
        voters = [f"0x{i:040x}" for i in range(1, n + 1)]
        VotingPower.objects.bulk_create([VotingPower(proposal=p, voter=v, weight=1) for v in voters], batch_size=5000)
        Ballot.objects.bulk_create(
            [
                Ballot(
                    proposal=p,
                    voter=v,
                    choice=("for", "against", "abstain")[i % 3],
                    reason="",
                    timestamp=int(time.time()),
                    weight=1,
                    message={},
                    signature="0x" + "00" * 65,
                    digest=f"0x{i:064x}",
                    counted=True,
                )
                for i, v in enumerate(voters)
            ],
            batch_size=5000,
        )
        Proposal.objects.filter(pk=p.pk).update(eligible_power=n)

    fill(small, 10)
    fill(big, args.page_ballots)
    now = int(time.time())

    def signed(p, choice, ts, pid):
        message = {
            "voter": p.address,
            "idao": "bench",
            "proposal": pid,
            "choice": choice,
            "reason": "",
            "timestamp": ts,
        }
        return json.dumps({"message": message, "signature": p.sign_typed(eip712.typed_data(message))}).encode()

    # Browser-like sessions (the path the vote button takes): a session row and a CSRF secret each.
    from importlib import import_module

    from django.conf import settings as dj_settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    # The configured engine, as a real sign-in would create them (cached_db with Redis).
    SessionStore = import_module(dj_settings.SESSION_ENGINE).SessionStore

    sessions = {}
    for p in people:
        store = SessionStore()
        user = users[p.address]
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = dj_settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions[p.address] = ("session", store.session_key)
    for address, raw in tokens.items():
        tokens[address] = ("bearer", raw)

    # Groups of voters, each voting once (every vote is a new, accepted one): `rounds` session
    # rounds, then two bearer-token rounds. Each vote round follows a baseline round of as many
    # requests, so both see the same machine load; the figures are medians over the rounds.
    n_groups = args.rounds + 2
    size = len(people) // n_groups
    groups = [people[i * size : (i + 1) * size] for i in range(n_groups)]
    vote_bodies = [
        [
            (
                (sessions if r < args.rounds else tokens)[p.address],
                signed(p, ("for", "against", "abstain")[r % 3], now, proposal.pk),
            )
            for p in group
        ]
        for r, group in enumerate(groups)
    ]
    base_bodies = [[(None, signed(p, "for", now, 10**9 + r)) for p in group] for r, group in enumerate(groups)]
    with connection.cursor() as cursor:
        # Fresh bulk-loaded tables have no statistics yet; a live database would.
        cursor.execute("ANALYZE")
    connection.close()

    # --- gunicorn on a free port ---------------------------------------------------------------
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "BENCH_VOTES_SITE": "1", "DJANGO_SETTINGS_MODULE": "bench.votes", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(args.workers),
            "--threads",
            str(args.threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "portal.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                c.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

        # Server-side CPU per request, beside the rates (which swing with other load on a shared
        # machine): gunicorn's processes and the PostgreSQL backends of this database, read from /proc
        # (PostgreSQL on this host). Redis and the client threads are not counted.
        import psycopg

        watcher = psycopg.connect(db_url, autocommit=True)

        def server_cpu() -> tuple[float, float]:
            backends = [
                pid
                for (pid,) in watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
            web = _cpu_seconds(server.pid) + sum(_cpu_seconds(pid) for pid in _children(server.pid))
            return web, sum(_cpu_seconds(pid) for pid in backends)

        cpu: dict[str, list[tuple[float, float]]] = {}

        def drive(url: str, bodies: list, expect: int = 201, method: str = "POST") -> tuple[float, int]:
            chunks = [bodies[i :: args.clients] for i in range(args.clients)]
            accepted = [0] * args.clients
            errors: list = []
            barrier = threading.Barrier(args.clients + 1)

            def client(i: int) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                barrier.wait()
                for auth, body in chunks[i]:
                    headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
                    if auth and auth[0] == "bearer":
                        headers["Authorization"] = f"Bearer {auth[1]}"
                    elif auth:
                        headers["Cookie"] = f"sessionid={auth[1]}; csrftoken={CSRF_SECRET}"
                        headers["X-CSRFToken"] = CSRF_SECRET
                    try:
                        conn.request(method, url, body=body, headers=headers)
                        response = conn.getresponse()
                        payload = response.read()
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                        conn.request(method, url, body=body, headers=headers)
                        response = conn.getresponse()
                        payload = response.read()
                    if response.status == expect:
                        accepted[i] += 1
                    elif len(errors) < 3:
                        errors.append((response.status, payload[:200]))

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            for t in threads:
                t.start()
            web_before, pg_before = server_cpu()
            barrier.wait()
            start = time.perf_counter()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            web_after, pg_after = server_cpu()
            if sum(accepted):
                n = sum(accepted)
                cpu.setdefault(url, []).append(((web_after - web_before) / n, (pg_after - pg_before) / n))
            if errors:
                print(f"# {url}: unexpected answers {errors}", file=sys.stderr)
            return sum(accepted) / elapsed, sum(accepted)

        # Warm both paths (imports, connections) with a few requests that are not measured.
        drive("/bench/baseline-vote", [(None, signed(people[0], "for", now, 1))] * args.clients)
        vote_url = f"/api/v1/proposals/{proposal.pk}/votes"
        rates_vote, rates_base, total_votes = [], [], 0
        for r in range(n_groups):  # interleave so both see the same machine load
            rate, n = drive("/bench/baseline-vote", base_bodies[r])
            rates_base.append(rate)
            # A voter loads a page before clicking a vote button; that request (not measured)
            # warms their session and user in the cache, as in real use.
            drive("/auth/me", [(auth, None) for auth, _ in vote_bodies[r]], expect=200, method="GET")
            rate, n = drive(vote_url, vote_bodies[r])
            rates_vote.append(rate)
            total_votes += n
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    watcher.close()

    def cpu_ms(url: str, rounds: slice) -> dict[str, float]:
        # Medians over the rounds (the vote rounds' list holds only vote rounds, the baseline's
        # its warm-up first: skipped).
        rows = cpu.get(url, [])[rounds]
        return {
            "web": round(1000 * statistics.median(r[0] for r in rows), 3),
            "postgres": round(1000 * statistics.median(r[1] for r in rows), 3),
        }

    vote_cpu, base_cpu = (
        cpu_ms(vote_url, slice(0, args.rounds)),
        cpu_ms("/bench/baseline-vote", slice(1, args.rounds + 1)),
    )

    counted = Ballot.objects.filter(proposal=proposal, counted=True).count()
    session_votes, session_base = rates_vote[: args.rounds], rates_base[: args.rounds]
    vote_rate, base_rate = statistics.median(session_votes), statistics.median(session_base)
    emit(
        "accepted_votes_per_second",
        vote_rate,
        "votes/s",
        base_rate,
        {"ratio": ">= 0.7"},
        auth="session cookie + CSRF (the vote button's path)",
        clients=args.clients,
        gunicorn_workers=args.workers,
        gunicorn_threads=args.threads,
        accepted=total_votes,
        counted_in_db=counted,
        rounds_votes=[round(x, 1) for x in session_votes],
        rounds_baseline=[round(x, 1) for x in session_base],
        median_round_ratio=round(statistics.median(v / b for v, b in zip(session_votes, session_base, strict=True)), 3),
        # CPU per request (medians of the rounds): gunicorn's processes and this database's backends.
        web_cpu_ms_per_vote=vote_cpu["web"],
        postgres_cpu_ms_per_vote=vote_cpu["postgres"],
        web_cpu_ms_per_baseline=base_cpu["web"],
        postgres_cpu_ms_per_baseline=base_cpu["postgres"],
        server_cpu_ratio=round(
            (base_cpu["web"] + base_cpu["postgres"]) / ((vote_cpu["web"] + vote_cpu["postgres"]) or 1), 3
        ),
    )
    emit(
        "accepted_votes_per_second_bearer_token",
        statistics.median(rates_vote[args.rounds :]),
        "votes/s",
        statistics.median(rates_base[args.rounds :]),
        {},  # a diagnostic: the target (issue 18) is the session path above; a token is looked up per request
        auth="Authorization: Bearer (first use of each token also writes its last_used_at)",
        clients=args.clients,
        gunicorn_workers=args.workers,
    )

    # --- Diagnostic: the service alone (no HTTP, no auth), one thread, beside verify + insert ---
    from idaos.services import ballots as ballot_service

    extra = many(600, start=200_000)
    Membership.objects.bulk_create(
        [
            Membership(
                idao=idao,
                user=User.objects.get_or_create(address=p.address)[0],
                status="active",
                requested_at=past,
                joined_at=past,
            )
            for p in extra
        ]
    )
    diag = Proposal.objects.create(
        idao=idao,
        author=founder,
        kind="signal",
        title="Diag",
        state="active",
        voting_rule="one_member_one_vote",
        quorum_bps=0,
        approval_threshold_bps=5000,
        voting_starts_at=timezone.now() - timedelta(seconds=5),
        voting_ends_at=timezone.now() + timedelta(hours=1),
        activated_at=timezone.now(),
        eligible_power=len(extra),
    )
    VotingPower.objects.bulk_create([VotingPower(proposal=diag, voter=p.address, weight=1) for p in extra])
    diag_bodies = [json.loads(signed(p, "for", int(time.time()), diag.pk)) for p in extra]

    def service(bodies: list) -> float:
        start = time.perf_counter()
        for body in bodies:
            ballot_service.ballot_cast(
                proposal_id=diag.pk, message=body["message"], signature=body["signature"], user=None
            )
        return len(bodies) / (time.perf_counter() - start)

    def verify_insert(bodies: list) -> float:
        start = time.perf_counter()
        for body in bodies:
            signer = eip712.recover(body["message"], body["signature"])
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO bench_baseline_vote (voter, body) VALUES (%s, %s)", [signer, json.dumps(body)]
                )
        return len(bodies) / (time.perf_counter() - start)

    service(diag_bodies[:20])
    verify_insert(diag_bodies[20:40])
    chunks = [diag_bodies[40 + i * 70 : 40 + (i + 1) * 70] for i in range(8)]
    service_rate = statistics.median(service(c) for c in chunks[0::2])
    floor_rate = statistics.median(verify_insert(c) for c in chunks[1::2])
    emit(
        "ballot_service_per_second_one_thread",
        service_rate,
        "ballots/s",
        floor_rate,
        {},
        baseline_is="verify one signature + insert one row, same process, no HTTP",
    )
    if args.only_votes:
        return

    # --- Contract-wallet ballots (ERC-1271) against a local EVM, the same service path ---------
    # py-evm behind a JSON-RPC server (tests/chain), reached through PORTAL_CHAIN_RPC as a node
    # is: each ballot costs eth_chainId (once), eth_blockNumber, eth_getCode and one eth_call.
    # No target: the figure says what a contract-wallet ballot costs beside an EOA's.
    from django.conf import settings as dj_settings

    from tests.chain import LocalChain
    from tests.chain.wallets import CHAIN_ID

    evm = LocalChain()
    owners_ = many(args.contract_wallets, start=300_000)
    wallet_of = {o.address: evm.deploy("OwnedWallet", ("address", o.address)) for o in owners_}
    saved = (dj_settings.PORTAL_CHAIN_ID, dj_settings.PORTAL_CHAIN_RPC)
    dj_settings.PORTAL_CHAIN_ID, dj_settings.PORTAL_CHAIN_RPC = CHAIN_ID, {CHAIN_ID: evm.url}
    try:
        cw = Proposal.objects.create(
            idao=idao,
            author=founder,
            kind="signal",
            title="Contract wallets",
            state="active",
            voting_rule="one_member_one_vote",
            quorum_bps=0,
            approval_threshold_bps=5000,
            voting_starts_at=timezone.now() - timedelta(seconds=5),
            voting_ends_at=timezone.now() + timedelta(hours=1),
            activated_at=timezone.now(),
            eligible_power=len(owners_),
        )
        VotingPower.objects.bulk_create([VotingPower(proposal=cw, voter=w, weight=1) for w in wallet_of.values()])
        cw_bodies = []
        for o in owners_:
            message = {
                "voter": wallet_of[o.address],
                "idao": "bench",
                "proposal": cw.pk,
                "choice": "for",
                "reason": "",
                "timestamp": int(time.time()),
            }
            cw_bodies.append({"message": message, "signature": o.sign_typed(eip712.typed_data(message))})
        start = time.perf_counter()
        for body in cw_bodies:
            recorded = ballot_service.ballot_cast(
                proposal_id=cw.pk, message=body["message"], signature=body["signature"], user=None
            )
            assert recorded.verified_by == "erc1271"
        cw_rate = len(cw_bodies) / (time.perf_counter() - start)
    finally:
        dj_settings.PORTAL_CHAIN_ID, dj_settings.PORTAL_CHAIN_RPC = saved
        evm.stop()
    emit(
        "contract_wallet_ballots_per_second_local_evm",
        cw_rate,
        "ballots/s",
        service_rate,
        {},
        wallets=len(owners_),
        rpc_calls=dict(evm.calls),
        baseline_is="EOA ballots through the same service, one thread (ballot_service_per_second_one_thread)",
    )

    # --- Proposal page with 10,000 ballots --------------------------------------------------
    client = Client()
    page_url = f"/proposals/{proposal.pk}"

    def page_time(n: int = 40) -> tuple[float, int]:
        client.get(page_url)
        times = []
        for _ in range(n):
            start = time.perf_counter()
            response = client.get(page_url)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as ctx:
            client.get(page_url)
        return statistics.median(times), len(ctx.captured_queries)

    page_url = f"/proposals/{small.pk}"
    small_ms, small_q = page_time()
    page_url = f"/proposals/{big.pk}"
    big_ms, big_q = page_time()
    emit(
        "proposal_page_server_ms_10k_ballots",
        big_ms,
        "ms",
        small_ms,
        {"value": "<= 50"},
        ballots=args.page_ballots,
        baseline_is="same page with 10 ballots",
    )
    emit(
        "proposal_page_queries_10k_ballots",
        big_q,
        "queries",
        small_q,
        {"ratio": "<= 1.0"},
        ballots=args.page_ballots,
        baseline_is="same page with 10 ballots",
    )
    delegation_figures(args)


def delegation_figures(args) -> None:
    """Activation of a proposal whose iDAO has N members and M live delegations (resolved into the
    snapshot: idaos.delegation), against the same activation with no delegations; then the
    proposal page of the delegated proposal against the undelegated one (time and query count)."""
    import statistics
    import time
    from datetime import timedelta

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from eth_utils import to_checksum_address

    from idaos.models import Ballot, Delegation, DelegationShare, Membership, Proposal, VotingPower
    from idaos.services import proposals
    from idaos.services.idaos import idao_create
    from portal.models import User

    n, m = args.delegation_members, args.delegations
    addresses = [to_checksum_address(f"0x{0xD0000000 + i:040x}") for i in range(n)]
    User.objects.bulk_create([User(address=a) for a in addresses], ignore_conflicts=True)
    users = dict(User.objects.filter(address__in=addresses).values_list("address", "id"))
    founder = User.objects.get(pk=users[addresses[0]])
    timings = {}
    for slug in ("bench-plain", "bench-delegated"):
        idao = idao_create(
            creator=founder,
            slug=slug,
            name=slug,
            domain="healthcare",
            charter={"voting_period": 7200, "quorum_bps": 0, "delegation_cap_bps": 10000},
        )
        past = timezone.now() - timedelta(seconds=5)
        Membership.objects.bulk_create(
            [
                Membership(idao=idao, user_id=users[a], status="active", requested_at=past, joined_at=past)
                for a in addresses[1:]
            ]
        )
        if slug == "bench-delegated":
            # One member in two delegates their (indivisible, one_member_one_vote) vote to the next
            # member, who delegates onward: chains are cut at depth 3. Scopes mix all three kinds.
            scopes = [f"idao:{slug}", "domain:healthcare", "global"]
            expires = timezone.now() + timedelta(days=30)
            delegators = [i for i in range(n - 1) if (i // 4) % 2 == 0][:m]
            rows = [
                Delegation(
                    delegator=addresses[i],
                    scope=scopes[i % 3],
                    expires_at=expires,
                    nonce=0,
                    message={},
                    signature="0x",
                    digest=f"0x{i:064x}",
                )
                for i in delegators
            ]
            Delegation.objects.bulk_create(rows, batch_size=2000)
            DelegationShare.objects.bulk_create(
                [
                    DelegationShare(delegation=d, delegate=addresses[i + 1], bps=10000)
                    for i, d in zip(delegators, rows, strict=True)
                ],
                batch_size=5000,
            )
        proposal = proposals.proposal_create(idao=idao, author=founder, kind="signal", title="Bench", submit=False)
        start = time.perf_counter()
        proposals.proposal_submit(proposal_id=proposal.pk, author=founder)
        timings[slug] = (time.perf_counter() - start, proposal.pk)
        assert Proposal.objects.get(pk=proposal.pk).state == "active"
        if slug == "bench-delegated":
            assert VotingPower.objects.filter(proposal_id=proposal.pk, delegated_out__gt=0).count() == m
    emit(
        "activation_s_10k_members_5k_delegations",
        timings["bench-delegated"][0],
        "s",
        timings["bench-plain"][0],
        {"value": "<= 2"},
        members=n,
        delegations=m,
        baseline_is="same activation with no delegations",
    )
    # Every third member votes directly on both proposals (delegators among them take their votes
    # back), so the delegated tally has work to do.
    now_ts = int(time.time())
    for _, pk in timings.values():
        Ballot.objects.bulk_create(
            [
                Ballot(
                    proposal_id=pk,
                    voter=a,
                    choice=("for", "against", "abstain")[i % 3],
                    timestamp=now_ts,
                    weight=1,
                    message={},
                    signature="0x",
                    digest=f"0x{pk:032x}{i:032x}",
                )
                for i, a in enumerate(addresses)
                if i % 3 == 0
            ],
            batch_size=5000,
        )
    with connection.cursor() as cursor:  # as autovacuum would after bulk loads
        cursor.execute("ANALYZE idaos_ballot, idaos_votingpower, idaos_delegation, idaos_delegationshare")
    client = Client()

    def page(pk: int, k: int = 30) -> tuple[float, int]:
        client.get(f"/proposals/{pk}")
        times = []
        for _ in range(k):
            start = time.perf_counter()
            assert client.get(f"/proposals/{pk}").status_code == 200
            times.append((time.perf_counter() - start) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            client.get(f"/proposals/{pk}")
        return statistics.median(times), len(ctx.captured_queries)

    plain_ms, plain_q = page(timings["bench-plain"][1])
    deleg_ms, deleg_q = page(timings["bench-delegated"][1])
    emit(
        "proposal_page_server_ms_5k_delegations",
        deleg_ms,
        "ms",
        plain_ms,
        {"value": "<= 50"},
        delegations=m,
        baseline_is="same page with no delegations",
        ballots=len(range(0, n, 3)),
    )
    emit(
        "proposal_page_queries_5k_delegations",
        deleg_q,
        "queries",
        plain_q,
        {"ratio": "<= 1"},
        delegations=m,
        baseline_is="same page with no delegations",
        ballots=len(range(0, n, 3)),
    )


CSRF_SECRET = "b" * 32


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 if it is gone or not on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def emit(figure: str, value: float, unit: str, baseline: float, target: dict, **extra: object) -> None:
    import json

    ratio = value / baseline if baseline else None
    line = {
        "bench": "votes",
        "figure": figure,
        "value": round(value, 2),
        "unit": unit,
        "baseline": round(baseline, 2),
        "ratio": round(ratio, 3) if ratio is not None else None,
        "target": target,
        **extra,
    }
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
