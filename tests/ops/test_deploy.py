"""Safe to deploy (issue 11, point 14): the full stack starts without demo data unless asked, and
the settings refuse a deployment without its own SECRET_KEY."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.management import call_command

from .conftest import compose_config
from .processes import ROOT, embedded_env

PORTAL_SERVICES = ("migrate", "web", "worker", "beat", "validators")
DEMO_SWITCHES = ("PORTAL_DEMO", "PORTAL_DEMO_VALIDATORS", "REWARDS_DEMO_PIPELINE")


def start_settings(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Import the settings and set Django up in a fresh interpreter, as every process does at start."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={**embedded_env(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off_and_the_database_is_not_sqlite(tmp_path):
    started = start_settings(tmp_path, DATABASE_URL="postgres://portal@127.0.0.1:5432/portal")
    assert started.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in started.stderr
    assert not (tmp_path / "var" / "secret_key").exists()  # no generated fallback either


def test_settings_start_without_a_secret_key_on_the_embedded_default_or_with_debug(tmp_path):
    assert start_settings(tmp_path).stdout.strip() == "started"  # SQLite: a generated key under var/
    debug = start_settings(tmp_path, DATABASE_URL="postgres://portal@127.0.0.1:5432/portal", DEBUG="true")
    assert debug.stdout.strip() == "started", debug.stderr
    given = start_settings(tmp_path, DATABASE_URL="postgres://portal@127.0.0.1:5432/portal", SECRET_KEY="k" * 50)
    assert given.stdout.strip() == "started", given.stderr


def test_compose_starts_with_no_demo_data_no_demo_validators_and_no_fallback_secret_by_default(compose):
    for name in PORTAL_SERVICES:
        env = compose["services"][name]["environment"]
        assert {k: env[k] for k in DEMO_SWITCHES} == dict.fromkeys(DEMO_SWITCHES, "false"), name
        assert env["SECRET_KEY"] in ("", None), name  # empty: the settings refuse to start
    migrate = " ".join(compose["services"]["migrate"]["command"]).replace("$$", "$")  # compose's escape
    assert 'if [ "$PORTAL_DEMO" = true ]; then python manage.py demo_data; fi' in migrate


def test_compose_with_portal_demo_true_loads_the_demo(tmp_path):
    config = compose_config(PORTAL_DEMO="true", SECRET_KEY="s" * 50)
    for name in PORTAL_SERVICES:
        env = config["services"][name]["environment"]
        assert {k: env[k] for k in DEMO_SWITCHES} == dict.fromkeys(DEMO_SWITCHES, "true"), name
        assert env["SECRET_KEY"] == "s" * 50
    # The migrate service's shell line, run with the service's environment, loads the demo.
    script = config["services"]["migrate"]["command"][2].replace("$$", "$")
    probe = script.replace("python manage.py migrate --noinput", "true").replace(
        "python manage.py demo_data", "echo demo"
    )
    assert (
        subprocess.run(["sh", "-c", probe], env={"PORTAL_DEMO": "true"}, capture_output=True, text=True).stdout
        == "demo\n"
    )
    assert (
        subprocess.run(["sh", "-c", probe], env={"PORTAL_DEMO": "false"}, capture_output=True, text=True).stdout == ""
    )


def test_compose_demo_validators_are_http_only_node_processes_started_only_with_portal_demo():
    """The `validators` service runs `manage.py run_validator --demo` (three `python -m validator`
    processes against the proxy by URL) only when PORTAL_DEMO=true; otherwise it exits at once."""
    demo = compose_config(PORTAL_DEMO="true", SECRET_KEY="s" * 50)["services"]["validators"]
    script = demo["command"][2].replace("$$", "$")
    assert "python manage.py run_validator --demo --portal http://proxy" in script
    assert "proxy" in demo["environment"]["ALLOWED_HOSTS"].split(",")
    assert demo["restart"] == "on-failure"  # the empty run (no demo) exits 0 and stays down
    probe = script.replace("exec python manage.py run_validator", "echo nodes")
    for switch, expected in (("true", "nodes"), ("false", "")):
        ran = subprocess.run(
            ["sh", "-c", probe], env={"PORTAL_DEMO_VALIDATORS": switch}, capture_output=True, text=True
        )
        assert ran.returncode == 0 and ran.stdout.split(" ")[0].strip() == expected
    assert not (ROOT / "quorums" / "validator_node.py").exists()  # no in-process demo validator left


@pytest.mark.django_db
def test_create_quorum_makes_the_first_quorum_audited_in_the_name_of_a_staff_address(capsys):
    from quorums.models import Quorum
    from tests.personas import ALICE

    call_command("grant_admin", ALICE.address)
    call_command("create_quorum", "First quorum", "--by", ALICE.address, "--committee-size", "3", "--min-bond", "100")
    quorum = Quorum.objects.get(name="First quorum")
    assert (quorum.committee_size, quorum.min_bond, quorum.created_by.address) == (3, 100, ALICE.address)
    assert "Created quorum" in capsys.readouterr().out
