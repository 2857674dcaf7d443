"""Liveness and readiness. /readyz names each dependency that is down."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from .celery import app as celery_app


def _database() -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _cache() -> None:
    cache.set("readyz", "ok", 5)
    if cache.get("readyz") != "ok":
        raise RuntimeError("cache did not return what was stored")


CHECKS = {"database": _database, "broker": _broker, "cache": _cache}


def _backend_name(check: str) -> str:
    if check == "database":
        return {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(connection.vendor, connection.vendor)
    if check == "broker":
        url = celery_app.conf.broker_url or ""
        return "Redis" if url.startswith("redis") else url.split("://")[0]
    backend = settings.CACHES["default"]["BACKEND"]
    return "Redis" if "redis" in backend.lower() else backend.rsplit(".", 2)[-2]


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    down: list[str] = []
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which and why
            results[name] = f"down: {type(exc).__name__}"
            down.append(f"{name} ({_backend_name(name)})")
    if down:
        return JsonResponse(
            {"status": "unavailable", "checks": results, "down": down, "detail": "Unreachable: " + ", ".join(down)},
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": results})
