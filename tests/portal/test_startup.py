"""What a process loads when Django is set up: every web, worker and beat process and every
command pays for it in memory (the 1 GiB upload's peak RSS bound, README "Benchmarks")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Loaded on first use only: the JSON API (its routers and schemas load with the URLconf), the chain
# client's HTTP library and eth_account (signatures take the coincurve fast path).
LOADED_ON_USE = ("portal.api", "requests", "eth_account")


def test_setting_django_up_loads_neither_the_json_api_nor_the_chain_and_signing_libraries():
    script = (
        "import django, json, sys; django.setup(); import contributions.uploads; "
        f"print(json.dumps([m for m in {list(LOADED_ON_USE)!r} if m in sys.modules]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_upload_path_registered_at_start_up_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "post" in paths["/api/v1/contributions/upload"]
