"""Refused uploads leave nothing staged (issue 11 point 8) and compressed archives cannot cost
the request more than a small budget of CPU (point 9)."""

from __future__ import annotations

import bz2
import io
import lzma
import os
import tarfile
import time
import zipfile
import zlib

import pytest
from django.core.files.storage import default_storage

from contributions.models import Contribution
from contributions.tasks import staging_sweep_task
from contributions.uploads import staging_dir
from portal.celery import beat_schedule
from tests.personas import BOB
from tests.quorums.factories import IdaoFactory, member

URL = "/api/v1/contributions/upload"
B = "HyGiEnEbOuNdArY"


@pytest.fixture
def idao():
    i = IdaoFactory()
    member(i, BOB)
    return i


def staged() -> set[str]:
    return {p.name for p in staging_dir().glob("up-*.part")}


def file_part(name: str = "f.csv", data: bytes = b"a,b\n1,2\n" * 1000, field: str = "file", extra: str = "") -> str:
    return (
        f'--{B}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        f"Content-Type: text/csv\r\n{extra}\r\n" + data.decode() + "\r\n"
    )


def field_part(name: str, value: str) -> str:
    return f'--{B}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'


def send(client, body: str):
    return client.generic("POST", URL, body.encode(), content_type=f"multipart/form-data; boundary={B}")


# --- point 8: every exit path cleans up ------------------------------------------------------


@pytest.mark.django_db
def test_too_many_fields_after_a_staged_file_leave_no_staged_file(signed_in, idao):
    before = staged()
    body = file_part() + "".join(field_part(f"x{i}", "1") for i in range(1100)) + f"--{B}--\r\n"
    r = send(signed_in(BOB), body)
    assert r.status_code == 400 and r.json()["error"] == "too_many_parts"
    assert staged() - before == set() and not Contribution.objects.exists()


@pytest.mark.django_db
def test_too_many_files_leave_no_staged_file(signed_in, idao):
    before = staged()
    body = "".join(file_part(f"f{i}.csv", field=f"file{i}") for i in range(25)) + f"--{B}--\r\n"
    r = send(signed_in(BOB), body)
    assert r.status_code == 400 and r.json()["error"] == "too_many_parts"
    assert staged() - before == set() and not Contribution.objects.exists()


@pytest.mark.django_db
def test_a_malformed_part_after_a_staged_file_leaves_no_staged_file(signed_in, idao):
    before = staged()
    client = signed_in(BOB)
    client.raise_request_exception = False  # what the parser error answers is point 6's business
    broken = file_part("b.csv", b"@@@ not base64 @@@", field="other", extra="Content-Transfer-Encoding: base64\r\n")
    r = send(client, file_part() + broken + f"--{B}--\r\n")
    assert r.status_code >= 400
    assert staged() - before == set() and not Contribution.objects.exists()


@pytest.mark.django_db
def test_a_field_bigger_than_the_memory_limit_after_a_staged_file_leaves_no_staged_file(signed_in, idao, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = staged()
    r = send(signed_in(BOB), file_part() + field_part("description", "d" * 20_000) + f"--{B}--\r\n")
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert staged() - before == set() and not Contribution.objects.exists()


@pytest.mark.django_db
def test_an_accepted_upload_leaves_no_staged_file(signed_in, idao):
    before = staged()
    fields = "".join(
        field_part(k, v) for k, v in (("idao", idao.slug), ("kind", "dataset"), ("title", "T"), ("licence", "CC0"))
    )
    r = send(signed_in(BOB), fields + field_part("allowed_uses", "training") + file_part() + f"--{B}--\r\n")
    assert r.status_code == 201
    assert staged() - before == set()
    assert default_storage.exists(Contribution.objects.get().storage_name)


def _strand(name: str, age_seconds: float) -> str:
    path = staging_dir() / name
    path.write_bytes(b"left by a killed worker")
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return str(path)


def test_the_staging_sweep_is_on_the_beat_schedule():
    entry = beat_schedule()["contributions-staging-sweep"]
    assert entry["task"] == "contributions.tasks.staging_sweep_task" and entry["schedule"] <= 3600


def test_a_worker_sweep_removes_staged_files_older_than_an_hour_and_keeps_fresh_ones(broker, celery_worker):
    crashed = _strand("up-crashed-test.part", 2 * 3600)
    live = _strand("up-live-test.part", 60)
    try:
        staging_sweep_task.delay()
        deadline = time.monotonic() + 30
        while os.path.exists(crashed) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(crashed)
        assert os.path.exists(live)
    finally:
        for p in (crashed, live):
            if os.path.exists(p):
                os.unlink(p)


# --- point 9: compressed archives within a ratio and time budget -------------------------------

GIB = 1024**3


def _repeat_stream(kind: str, total: int) -> bytes:
    """A tar of one `total`-byte member of zeros, compressed as `kind`, built in about a second:
    the zeros are compressed once and the compressed stream repeated (concatenated gzip members,
    bzip2 and xz streams decompress as one). Nothing big is ever written."""
    block = 16 * 1024 * 1024
    header = tarfile.TarInfo("zeros.bin")
    header.size = total
    compress = {
        "gzip": lambda b: _gzip(b),
        "bzip2": lambda b: bz2.compress(b, 9),
        "xz": lambda b: lzma.compress(b, preset=0),
    }[kind]
    zeros = compress(bytes(block))
    tail = compress(bytes(-total % 512) + bytes(1024))
    return compress(header.tobuf()) + zeros * (total // block) + tail


def _gzip(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "name"), [("bzip2", "bomb.tar.bz2"), ("gzip", "bomb.tar.gz"), ("xz", "bomb.tar.xz")])
def test_a_compressed_tar_bomb_is_refused_as_too_expensive_within_a_second(signed_in, idao, kind, name):
    bomb = _repeat_stream(kind, 4 * GIB)
    assert len(bomb) < 8 * 1024 * 1024  # megabytes that would inflate to 4 GiB
    with tarfile.open(fileobj=io.BytesIO(bomb), mode="r|*") as tf:
        assert next(iter(tf)).size == 4 * GIB  # a real, readable tar
    client = signed_in(BOB)
    f = io.BytesIO(bomb)
    f.name = name
    data = {"idao": idao.slug, "kind": "dataset", "title": "Bomb", "licence": "CC0", "allowed_uses": "training"}
    before = staged()
    started = time.monotonic()
    r = client.post(URL, {**data, "file": f})
    elapsed = time.monotonic() - started
    assert r.status_code == 422 and r.json()["error"] == "archive_too_expensive", r.content
    assert elapsed < 1.0, elapsed
    assert not Contribution.objects.exists() and staged() - before == set()


@pytest.mark.django_db
def test_a_zip_declaring_far_more_than_its_size_is_refused_as_too_expensive(signed_in, idao):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(64 * 1024 * 1024))
    f = io.BytesIO(buf.getvalue())
    f.name = "zeros.zip"
    data = {"idao": idao.slug, "kind": "dataset", "title": "Z", "licence": "CC0", "allowed_uses": "training"}
    r = signed_in(BOB).post(URL, {**data, "file": f})
    assert r.status_code == 422 and r.json()["error"] == "archive_too_expensive"


@pytest.mark.django_db
def test_an_honest_compressed_tar_is_accepted_with_its_entries_counted(signed_in, idao):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:bz2") as tf:
        for i in range(3):
            payload = os.urandom(2000)
            info = tarfile.TarInfo(f"part{i}.bin")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    f = io.BytesIO(raw.getvalue())
    f.name = "honest.tar.bz2"
    data = {"idao": idao.slug, "kind": "dataset", "title": "Honest", "licence": "CC0", "allowed_uses": "training"}
    r = signed_in(BOB).post(URL, {**data, "file": f})
    assert r.status_code == 201, r.content
    assert Contribution.objects.get().archive == {"entries": 3, "uncompressed_bytes": 6000, "unsafe_paths": False}


@pytest.mark.django_db
def test_a_compressed_tar_past_the_time_budget_is_refused_as_too_expensive(signed_in, idao, settings):
    settings.PORTAL_ARCHIVE_MAX_SECONDS = 0
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tf:
        info = tarfile.TarInfo("notes.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    f = io.BytesIO(raw.getvalue())
    f.name = "slow.tar.gz"
    data = {"idao": idao.slug, "kind": "dataset", "title": "Slow", "licence": "CC0", "allowed_uses": "training"}
    r = signed_in(BOB).post(URL, {**data, "file": f})
    assert r.status_code == 422 and r.json()["error"] == "archive_too_expensive"
    assert "too long" in r.json()["detail"]
