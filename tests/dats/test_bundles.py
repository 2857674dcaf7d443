"""Provenance bundles: an exported bundle verifies offline (no database), and changing any single
field of it makes verification fail."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from dats import services as dat_services
from dats.bundles import InvalidBundle, export, verify
from ledger.services import block_seal
from tests.dats.factories import make_idao, minted
from tests.personas import ALICE, BOB, CAROL


@pytest.fixture
def bundle(db):
    idao = make_idao(ALICE)
    base = minted(idao, CAROL, kind="model_weights")
    data = minted(idao, BOB)
    update = minted(idao, BOB, kind="model_update", parents=[base, data])
    dat_services.dat_policy_change(dat_id=update.pk, actor=update.owner, changes={"price_credit": 5})
    dat_services.dat_transfer(dat_id=update.pk, actor=update.owner, to_address=CAROL.address)
    block_seal()
    return export(update.pk)


def leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, (*path, i))
    else:
        yield path, node


def changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return 0
    if isinstance(value, str) and value[-1:] in "0123456789abcdef" and value:
        return value[:-1] + ("1" if value[-1] != "1" else "2")
    return value + "x"


def test_an_exported_bundle_verifies_and_says_what_it_checked(bundle):
    report = verify(bundle)
    assert report.token_id == bundle["tokenId"]
    assert [e["tokenId"] for e in bundle["dats"]][1:] == sorted(e["tokenId"] for e in bundle["dats"][1:])
    assert len(bundle["dats"]) == 3 and len(bundle["dats"][0]["events"]) == 2
    assert bundle["dats"][0]["current"]["owner"] == CAROL.address
    assert any("2 ancestor(s)" in line for line in report.checks)


def test_changing_any_single_field_makes_the_bundle_fail(bundle):
    paths = list(leaves(bundle))
    assert len(paths) > 200
    for path, value in paths:
        tampered = copy.deepcopy(bundle)
        node = tampered
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = changed(value)
        with pytest.raises(InvalidBundle):
            verify(tampered)
            pytest.fail(f"changing {'/'.join(map(str, path))} went unnoticed")


def test_dropping_an_ancestor_or_an_event_is_noticed(bundle):
    without_parent = copy.deepcopy(bundle)
    without_parent["dats"].pop()
    with pytest.raises(InvalidBundle, match="lacks"):
        verify(without_parent)
    without_event = copy.deepcopy(bundle)
    without_event["dats"][0]["events"].pop()
    with pytest.raises(InvalidBundle, match="differ from the anchored history"):
        verify(without_event)


def test_verify_bundle_command_works_offline_without_any_database(bundle, tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(bundle))
    tampered = copy.deepcopy(bundle)
    tampered["dats"][0]["current"]["policy"]["price_credit"] = "0"
    bad.write_text(json.dumps(tampered))
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    ok = subprocess.run(
        [sys.executable, manage, "verify_bundle", str(good)], env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"VALID: DAT #{bundle['tokenId']}")
    refused = subprocess.run(
        [sys.executable, manage, "verify_bundle", str(bad)], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "INVALID" in refused.stderr and "policy" in refused.stderr


@pytest.mark.django_db
def test_the_bundle_waits_for_the_next_block(client):
    dat = minted(make_idao(ALICE), BOB)
    response = client.get(f"/dats/{dat.pk}/bundle.json")
    assert (response.status_code, response.json()["error"]) == (409, "leaf_not_sealed")
    block_seal()
    response = client.get(f"/dats/{dat.pk}/bundle.json?download=1")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    assert verify(response.json()).token_id == dat.pk
    assert client.get(f"/api/v1/dats/{dat.pk}/verify").json()["valid"] is True
