"""`manage.py run_validator --portal URL` runs the same HTTP-only node (moved here from
tests/quorums/test_api.py, where it drove the old in-process node)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from contributions.models import Contribution
from contributions.services import contribution_route
from quorums import services
from quorums.models import Verdict
from tests.personas import BOB
from tests.quorums.factories import member, setup_network
from validator.checks import reason_codes

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_run_validator_node_rehashes_checks_signs_and_submits_over_http(live_server, broker, signed_in, tmp_path):
    idao, _quorum, ps = setup_network(3)
    member(idao, BOB)
    client = signed_in(BOB)

    def up(content: bytes, name: str) -> Contribution:
        f = io.BytesIO(content)
        f.name = name
        body = client.post(
            "/api/v1/contributions/upload",
            {
                "idao": idao.slug,
                "kind": "dataset",
                "title": name,
                "licence": "MIT",
                "allowed_uses": ["training"],
                "file": f,
            },
        ).json()
        c = Contribution.objects.get(public_id=body["id"])
        contribution_route(contribution_id=c.pk)
        return Contribution.objects.get(pk=c.pk)

    good = up(b"a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n11,12\n", "good.csv")
    bad = up(b"\x7fELF\x02\x01\x01" + b"\x00" * 50, "photo.jpg")
    mismatched = up(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "table.csv")
    for i, p in enumerate(ps):
        key = tmp_path / f"v{i}.key"
        key.write_text(p.account.key.hex())
        call_command(
            "run_validator", "--portal", live_server.url, "--key-file", str(key), "--once",
            "--cache-dir", str(tmp_path / f"c{i}"), stdout=io.StringIO(),
        )  # fmt: skip
    assert set(Verdict.objects.filter(round=good.round).values_list("verdict", flat=True)) == {"approve"}
    rejections = Verdict.objects.filter(round=bad.round)
    assert rejections.count() == 3 and {v.verdict for v in rejections} == {"reject"}
    assert all(reason_codes(v.reason) == ["executable_content"] for v in rejections)
    assert {reason_codes(v.reason)[0] for v in Verdict.objects.filter(round=mismatched.round)} == {"type_mismatch"}
    assert services.round_close(round_id=good.round_id).outcome == "accepted"
    assert services.round_close(round_id=bad.round_id).outcome == "rejected"


def test_run_validator_needs_a_portal_url():
    from django.core.management.base import CommandError

    with pytest.raises((CommandError, SystemExit)):
        call_command("run_validator", "--once", stdout=io.StringIO(), stderr=io.StringIO())


def test_run_validator_demo_without_a_quorum_needs_the_demo_quorum():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="demo quorum"):
        call_command("run_validator", "--portal", "http://127.0.0.1:1", "--demo", "--once", stdout=io.StringIO())


def test_run_validator_demo_bonds_the_demo_validators_and_runs_one_node_each(live_server, broker, signed_in, tmp_path):
    from quorums.demo import NAME
    from quorums.models import QuorumTrust, Validator
    from tests.quorums.factories import IdaoFactory, QuorumFactory

    idao, quorum = IdaoFactory(), QuorumFactory(committee_size=3, name=NAME)
    QuorumTrust.objects.create(idao=idao, quorum=quorum)
    member(idao, BOB)
    call_command(
        "run_validator",
        "--portal",
        live_server.url,
        "--demo",
        "--quorum",
        str(quorum.pk),
        "--once",
        "--cache-dir",
        str(tmp_path),
        stdout=io.StringIO(),
    )  # fmt: skip  (no assignments yet: each node signs in, polls once and exits)
    assert Validator.objects.filter(quorum=quorum, state="active").count() == 3
    f = io.BytesIO(b"id,label\n1,cat\n2,dog\n3,bird\n4,fish\n")
    f.name = "labels.csv"
    body = (
        signed_in(BOB)
        .post(
            "/api/v1/contributions/upload",
            {
                "idao": idao.slug,
                "kind": "dataset",
                "title": "L",
                "licence": "MIT",
                "allowed_uses": ["training"],
                "file": f,
            },
        )
        .json()
    )
    c = Contribution.objects.get(public_id=body["id"])
    contribution_route(contribution_id=c.pk)
    c.refresh_from_db()
    call_command(  # without --quorum: the demo quorum (what compose's `validators` service runs)
        "run_validator", "--portal", live_server.url, "--demo", "--once", "--cache-dir", str(tmp_path),
        stdout=io.StringIO(),
    )  # fmt: skip
    assert Verdict.objects.filter(round_id=c.round_id, verdict="approve").count() == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validator-0", "validator-1", "validator-2"]


def test_run_validator_demo_only_runs_one_demo_validator_in_this_process(live_server, broker, signed_in, tmp_path):
    """What bin/run supervises: `--demo --only N --key-dir DIR`, one node per process."""
    from quorums.models import QuorumTrust
    from tests.quorums.factories import IdaoFactory, QuorumFactory

    idao, quorum = IdaoFactory(), QuorumFactory(committee_size=3)
    QuorumTrust.objects.create(idao=idao, quorum=quorum)
    member(idao, BOB)
    args = ["--portal", live_server.url, "--demo", "--quorum", str(quorum.pk), "--count", "3", "--once"]
    call_command("run_validator", *args, "--only", "1", "--key-dir", str(tmp_path), stdout=io.StringIO())
    f = io.BytesIO(b"id,label\n1,cat\n2,dog\n3,bird\n4,fish\n")
    f.name = "labels.csv"
    form = {"idao": idao.slug, "kind": "dataset", "title": "L", "licence": "MIT", "allowed_uses": ["training"]}
    body = signed_in(BOB).post("/api/v1/contributions/upload", {**form, "file": f}).json()
    c = Contribution.objects.get(public_id=body["id"])
    contribution_route(contribution_id=c.pk)
    for i in (1, 2):
        call_command("run_validator", *args, "--only", str(i), "--key-dir", str(tmp_path), stdout=io.StringIO())
    assert Verdict.objects.filter(round_id=Contribution.objects.get(pk=c.pk).round_id).count() == 2
    assert (tmp_path / "validator-1.hex").stat().st_mode & 0o077 == 0  # the key is private to its owner
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["cache-1", "cache-2"]
