"""Endpoints served by plain Django views (e.g. streaming uploads, which need their own upload
handler) still belong in the one OpenAPI document: apps register their path items here, from
AppConfig.ready(). A module of its own, because importing portal.api there would load the whole
API (every router and its schemas) in every process, Celery workers and commands included."""

from __future__ import annotations

EXTRA_PATHS: dict[str, dict] = {}


def register_openapi_path(path: str, item: dict) -> None:
    EXTRA_PATHS[path] = item
