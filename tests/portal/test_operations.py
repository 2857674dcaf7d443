"""Operational conventions: deploy checks, OpenAPI, health and readiness, JSON errors, headers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_passes_with_production_like_environment(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "false",
        "SECRET_KEY": "x7#" + "k9Lq2Vb8Zr" * 6,
        "ALLOWED_HOSTS": "portal.example.org",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "PORTAL_HTTPS": "true",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_openapi_document_is_valid_openapi_3_and_covers_auth():
    from openapi_spec_validator import validate

    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    for path, method in [
        ("/auth/siwe/nonce", "get"),
        ("/auth/siwe/verify", "post"),
        ("/auth/me", "get"),
        ("/auth/logout", "post"),
        ("/api/v1/contributions/upload", "post"),
    ]:
        assert method in spec["paths"][path], path


@pytest.mark.django_db
def test_api_docs_are_served_without_a_cdn():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


def test_healthz_answers_without_touching_services():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_postgres_broker_and_cache_answer():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "cache": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_naming_postgresql_when_it_is_unreachable():
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "1"
    try:
        response = Client().get("/readyz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["database (PostgreSQL)"]
    assert "PostgreSQL" in body["detail"]


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_when_it_is_unreachable(settings, monkeypatch):
    from django.core.cache import caches

    from portal.celery import app

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    caches._settings = None
    if hasattr(caches._connections, "default"):
        del caches._connections.default
    old_broker = app.conf.broker_url
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # Celery lets the env var win
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = Client().get("/readyz")
    finally:
        app.conf.broker_url = old_broker
    assert response.status_code == 503
    assert set(response.json()["down"]) == {"broker (Redis)", "cache (Redis)"}


@pytest.mark.django_db
def test_unknown_api_path_is_json_404():
    response = Client().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.django_db
def test_pages_carry_security_headers():
    response = Client().get("/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


@pytest.mark.django_db
def test_home_explains_and_links_every_section_and_has_no_inline_script():
    html = Client().get("/").content.decode()
    for href in ("/idaos/", "/quorums/", "/dats/", "/ledger/", "/earnings/"):
        assert f'href="{href}"' in html
    assert "Sign in with Ethereum" in html
    import re

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", html), "inline script found"


@pytest.mark.django_db
def test_grant_admin_command_makes_an_address_staff(alice):
    from django.core.management import call_command

    from portal.models import User

    call_command("grant_admin", alice.address.lower())
    assert User.objects.get(address=alice.address).is_staff


@pytest.mark.django_db
def test_json_answers_carry_the_strict_api_policy():
    response = Client().get("/api/v1/idaos")
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
