"""First sign-ins per second through POST /auth/siwe/verify (the full Django stack: middleware,
CSRF, EIP-4361 parsing and relying-party checks, nonce claim, session login) next to a bare Django
view doing the same unavoidable work in the same process and run: recover the EIP-191 signer,
claim the nonce with one conditional UPDATE, upsert the user, create the session. Every sign-in
is a first one (a new user and a new session), the most expensive case. The two are measured in
alternating rounds so both see the same machine load; the figure is the median of the rounds.

Run: .venv/bin/python bench/siwe.py [N]   (its own database, recreated each run)"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

# Replace the script folder on sys.path (this file would shadow the siwe package) with the repo root.
sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "postgres://root@127.0.0.1:5432/bench_siwe")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-never-deployed-0123456789abcdef")  # required on PostgreSQL
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("PORTAL_HTTPS", "false")
os.environ.setdefault("STATIC_MANIFEST", "false")
os.environ["SIWE_NONCE_RATE"] = "1000000/m"

import django  # noqa: E402

django.setup()

from django.contrib.auth import login  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings, setup_test_environment  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from portal.eth import recover_digest  # noqa: E402
from portal.models import SiweNonce, User  # noqa: E402
from portal.siwe import eip191_digest, nonce_issue  # noqa: E402
from tests.personas import many  # noqa: E402
from tests.siwe_helpers import siwe_message  # noqa: E402


@csrf_exempt
def bare_signin(request: HttpRequest) -> JsonResponse:
    """The work any SIWE sign-in must do, and nothing else."""
    body = json.loads(request.body)
    text, signature = body["message"], body["signature"]
    signer = recover_digest(eip191_digest(text), signature)
    nonce = text.split("\nNonce: ", 1)[1].split("\n", 1)[0]
    now = timezone.now()
    with transaction.atomic():
        claimed = SiweNonce.objects.filter(value=nonce, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
        assert claimed == 1 and signer is not None
        user, _ = User.objects.get_or_create(address=signer, defaults={"last_login": now})
    login(request, user, backend="portal.auth.AddressBackend")
    return JsonResponse({"address": user.address})


urls = types.ModuleType("bench_siwe_urls")
urls.urlpatterns = [path("bench/bare-signin", bare_signin), path("", include("portal.urls"))]
sys.modules["bench_siwe_urls"] = urls

TOKEN = "b" * 32


def signed(people) -> list[tuple[str, str]]:
    items = []
    for who in people:
        text = siwe_message(address=who.address, nonce=nonce_issue())
        items.append((text, who.sign_text(text)))
    return items


def rate(url: str, items: list[tuple[str, str]]) -> float:
    """Sign-ins/s, each from its own browser: no session cookie yet, only a CSRF cookie."""
    client = Client(enforce_csrf_checks=True)
    start = time.perf_counter()
    for text, signature in items:
        client.cookies.clear()
        client.cookies["csrftoken"] = TOKEN
        response = client.post(
            url,
            {"message": text, "signature": signature},
            content_type="application/json",
            headers={"X-CSRFToken": TOKEN},
        )
        assert response.status_code == 200, response.content
    return len(items) / (time.perf_counter() - start)


def queries(url: str, item: tuple[str, str]) -> int:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = TOKEN
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(
            url,
            {"message": item[0], "signature": item[1]},
            content_type="application/json",
            headers={"X-CSRFToken": TOKEN},
        )
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def main(n: int, rounds: int) -> None:
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    per_round = n // rounds
    people = many(per_round * rounds * 2 + 2, start=50_000)
    items = signed(people)
    with override_settings(ROOT_URLCONF="bench_siwe_urls"):
        # Warm both paths (imports, connections, caches) before the clock starts.
        rate("/bench/bare-signin", items[:1])
        rate("/auth/siwe/verify", items[1:2])
        endpoint_q, bare_q = queries("/auth/siwe/verify", items[2]), queries("/bench/bare-signin", items[3])
        rest = items[4:]
        endpoint_rates, bare_rates = [], []
        for r in range(rounds):
            chunk = rest[2 * r * per_round : 2 * (r + 1) * per_round]
            bare_rates.append(rate("/bench/bare-signin", chunk[:per_round]))
            endpoint_rates.append(rate("/auth/siwe/verify", chunk[per_round:]))
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    endpoint, baseline = statistics.median(endpoint_rates), statistics.median(bare_rates)
    print(
        json.dumps(
            {
                "bench": "siwe",
                "figure": "first_signins_per_second",
                "value": round(endpoint, 1),
                "unit": "sign-ins/s",
                "baseline": round(baseline, 1),
                "ratio": round(endpoint / baseline, 3),
                "target": {"ratio": ">= 0.6"},
                "baseline_is": "bare Django view: recover EIP-191 signer, claim nonce, upsert user, login()",
                "queries": endpoint_q,
                "baseline_queries": bare_q,
                "rounds": [round(x, 1) for x in endpoint_rates],
                "rounds_baseline": [round(x, 1) for x in bare_rates],
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 600, int(os.environ.get("BENCH_ROUNDS", 6)))
