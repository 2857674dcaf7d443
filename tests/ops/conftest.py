from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from .processes import ROOT


def compose_config(**env: str) -> dict:
    """`docker-compose config` (the resolved file) of the repository's docker-compose.yml, without .env."""
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "PORTAL_DEMO", "DATABASE_URL")}
    out = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "--project-directory", str(ROOT), "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return yaml.safe_load(out.stdout)


@pytest.fixture(scope="session")
def compose() -> dict:
    return compose_config()
