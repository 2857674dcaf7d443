from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from Crypto.Hash import keccak
from django.core.files.storage import default_storage

from contributions.models import Contribution
from contributions.services import contribution_route
from quorums import services
from tests.personas import BOB, CAROL, MALLORY
from tests.quorums.factories import IdaoFactory, member, setup_network, signed

URL = "/api/v1/contributions/upload"


def form(content: bytes, name: str = "data.csv", content_type: str = "text/csv", **fields):
    f = io.BytesIO(content)
    f.name = name
    data = {
        "idao": fields.pop("idao"),
        "kind": "dataset",
        "title": "Trial data",
        "licence": "CC-BY-4.0",
        "allowed_uses": ["training", "research"],
        "file": f,
    }
    data.update(fields)
    return data


def post(client, data, content_type="text/csv"):
    return client.post(URL, data)


@pytest.fixture
def idao():
    i = IdaoFactory()
    member(i, BOB)
    return i


@pytest.mark.django_db
def test_member_upload_is_hashed_while_streaming_and_stored_under_a_generated_name(signed_in, idao):
    content = b"id,value\n" + b"1,2\n" * 50_000
    r = signed_in(BOB).post(URL, form(content, idao=idao.slug))
    assert r.status_code == 201, r.content
    body = r.json()
    k = keccak.new(digest_bits=256)
    k.update(content)
    assert body["sha256"] == "0x" + hashlib.sha256(content).hexdigest()
    assert body["keccak256"] == "0x" + k.hexdigest()
    c = Contribution.objects.get(public_id=body["id"])
    assert c.state == "uploaded" and c.size == len(content) and c.sniffed_type == "text" and c.flags == []
    assert "data" not in c.storage_name and c.storage_name.startswith("contributions/")
    with default_storage.open(c.storage_name, "rb") as fh:
        assert fh.read() == content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../x", "x"),
        ("a.php.jpg", "a.php.jpg"),
        ("nul\x00byte.csv", "nulbyte.csv"),
        ("a" * 300 + ".csv", "a" * 116 + ".csv"),
        ("invoice\u202evsc.exe", "invoicevsc.exe"),
        ("..\\..\\windows\\evil.csv", "evil.csv"),
    ],
)
def test_hostile_file_names_are_metadata_only(signed_in, idao, name, shown):
    from contributions.uploads import sanitise_name

    r = signed_in(BOB).post(URL, form(b"a,b\n1,2\n", name="upload.csv", idao=idao.slug))
    assert r.status_code == 201
    assert sanitise_name(name) == shown
    # Through the real multipart parser as well: stored under a generated name, never the client's.
    f = io.BytesIO(b"a,b\n3,4\n")
    f.name = name.replace("\x00", "")  # the test client cannot put a NUL in a header; the unit check covers it
    r = signed_in(BOB).post(URL, {**form(b"", idao=idao.slug), "file": f})
    assert r.status_code == 201, r.content
    c = Contribution.objects.get(public_id=r.json()["id"])
    assert "/" not in c.original_name and "\u202e" not in c.original_name and len(c.original_name) <= 120
    assert ".." not in c.storage_name and c.original_name not in c.storage_name


@pytest.mark.django_db
def test_content_contradicting_its_declared_type_is_flagged(signed_in, idao):
    r = signed_in(BOB).post(URL, form(b"<?php system($_GET['c']); ?>", name="a.php.jpg", idao=idao.slug))
    assert r.status_code == 201
    assert set(r.json()["flags"]) >= {"type_mismatch", "executable_content"}
    png_as_csv = signed_in(BOB).post(URL, form(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, name="table.csv", idao=idao.slug))
    assert "type_mismatch" in png_as_csv.json()["flags"]


def zip_bytes(entries: int, size_each: int = 0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(entries):
            zf.writestr(f"f{i}.txt", b"\0" * size_each)
    return buf.getvalue()


@pytest.mark.django_db
def test_archives_are_checked_for_entry_count_and_uncompressed_size_before_unpacking(signed_in, idao, settings):
    settings.PORTAL_ARCHIVE_MAX_ENTRIES = 50
    settings.PORTAL_ARCHIVE_MAX_UNCOMPRESSED = 1024 * 1024
    client = signed_in(BOB)
    many = client.post(URL, form(zip_bytes(51), name="many.zip", content_type="application/zip", idao=idao.slug))
    assert many.status_code == 422 and many.json()["error"] == "archive_refused" and "entries" in many.json()["detail"]
    bomb = zip_bytes(1, size_each=5 * 1024 * 1024)  # compresses to a few KiB
    assert len(bomb) < 64 * 1024
    refused = client.post(URL, form(bomb, name="small.zip", content_type="application/zip", idao=idao.slug))
    assert refused.status_code == 422 and "unpack to more than" in refused.json()["detail"]
    ok = client.post(URL, form(zip_bytes(3, 10), name="ok.zip", content_type="application/zip", idao=idao.slug))
    assert ok.status_code == 201 and Contribution.objects.get(public_id=ok.json()["id"]).archive["entries"] == 3
    assert not Contribution.objects.filter(title="Trial data", size=len(bomb)).exists()


@pytest.mark.django_db
def test_ten_thousand_multipart_parts_get_a_400(signed_in, idao):
    boundary = "BoUnDaRy"
    parts = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n' for i in range(10_000))
    body = (parts + f"--{boundary}--\r\n").encode()
    r = signed_in(BOB).generic("POST", URL, body, content_type=f"multipart/form-data; boundary={boundary}")
    assert r.status_code == 400 and r.json()["error"] == "too_many_parts"


@pytest.mark.django_db
def test_oversize_upload_gets_a_413_and_leaves_nothing_behind(signed_in, idao, settings):
    import os

    settings.PORTAL_MAX_UPLOAD_BYTES = 10_000
    staging = default_storage.path(".staging")
    os.makedirs(staging, exist_ok=True)
    before = set(os.listdir(staging))  # other runs may share this folder; only this upload counts
    r = signed_in(BOB).post(URL, form(b"x" * 20_000, idao=idao.slug))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large" and "10,000" in r.json()["detail"]
    assert not Contribution.objects.exists()
    assert not [n for n in set(os.listdir(staging)) - before if n.startswith("up-")]


@pytest.mark.django_db
def test_non_member_upload_is_rejected(signed_in, idao):
    r = signed_in(MALLORY).post(URL, form(b"a,b\n", idao=idao.slug))
    assert r.status_code == 403 and r.json()["error"] == "not_member"
    assert not Contribution.objects.exists()


@pytest.mark.django_db
def test_anonymous_upload_is_rejected(client, idao):
    assert client.post(URL, form(b"a,b\n", idao=idao.slug)).status_code == 401


@pytest.mark.django_db
def test_a_member_who_left_or_of_another_idao_and_an_unknown_idao_are_refused(signed_in, idao):
    from idaos.models import Membership

    member(idao, CAROL)
    Membership.objects.filter(idao=idao, user__address=CAROL.address).update(status="left")
    left = signed_in(CAROL).post(URL, form(b"a,b\n", idao=idao.slug))
    assert left.status_code == 403 and left.json()["error"] == "not_member"
    elsewhere = IdaoFactory()
    member(elsewhere, MALLORY)
    assert signed_in(MALLORY).post(URL, form(b"a,b\n", idao=idao.slug)).json()["error"] == "not_member"
    unknown = signed_in(BOB).post(URL, form(b"a,b\n", idao="no-such-idao"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "idao_not_found"
    assert not Contribution.objects.exists()


@pytest.mark.django_db
def test_session_upload_without_csrf_token_is_refused(signed_in, idao):
    client = signed_in(BOB)
    del client.defaults["HTTP_X_CSRFTOKEN"]
    r = client.post(URL, form(b"a,b\n", idao=idao.slug))
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"


@pytest.mark.django_db
def test_exact_duplicate_of_anchored_content_is_told_to_its_owner_and_flagged_for_others(signed_in, idao):
    Contribution.objects.all().delete()
    client = signed_in(BOB)
    first = Contribution.objects.get(public_id=client.post(URL, form(b"same,bytes\n", idao=idao.slug)).json()["id"])
    Contribution.objects.filter(pk=first.pk).update(state="accepted")
    again = client.post(URL, form(b"same,bytes\n", idao=idao.slug))
    assert again.status_code == 409 and again.json()["error"] == "duplicate_contribution"
    member(idao, CAROL)
    other = signed_in(CAROL).post(URL, form(b"same,bytes\n", idao=idao.slug))
    assert other.status_code == 201 and "duplicate_of_other_owner" in other.json()["flags"]


@pytest.mark.django_db
def test_downloads_need_an_active_assignment_for_that_exact_file(signed_in):
    idao, _quorum, ps = setup_network(3)
    member(idao, BOB)
    up = signed_in(BOB).post(URL, form(b"secret,data\n", idao=idao.slug)).json()
    other = signed_in(BOB).post(URL, form(b"other,file\n", idao=idao.slug)).json()
    c = Contribution.objects.get(public_id=up["id"])
    url = f"/contributions/{c.public_id}/file"
    validator = signed_in(ps[0])
    assert validator.get(url).status_code == 404  # not routed yet: no assignment
    contribution_route(contribution_id=c.pk)
    c.refresh_from_db()
    seat_address = c.round.seats.first().address
    holder = signed_in(next(p for p in ps if p.address == seat_address))
    r = holder.get(url)
    assert r.status_code == 200
    assert r["Content-Disposition"].startswith("attachment") and r["X-Content-Type-Options"] == "nosniff"
    assert b"".join(r.streaming_content) == b"secret,data\n"
    assert holder.get(f"/contributions/{other['id']}/file").status_code == 404  # a different file
    assert signed_in(MALLORY).get(url).status_code == 404
    assert holder.get(f"/contributions/{c.pk}/file").status_code == 404  # sequential ids are not URLs
    for p in ps:
        try:
            services.verdict_submit(round_id=c.round_id, **signed(p, c.round))
        except Exception:  # noqa: S112 — only committee members can sign; others are refused
            continue
    services.round_close(round_id=c.round_id)
    assert holder.get(url).status_code == 404  # the assignment ended with the round


@pytest.mark.django_db
def test_my_contributions_page_shows_state_and_refreshes_its_rows_with_htmx(
    signed_in, idao, django_assert_max_num_queries
):
    client = signed_in(BOB)
    for i in range(3):
        client.post(URL, form(f"row,{i}\n".encode(), idao=idao.slug))
    page = client.get("/contributions/mine")
    assert page.status_code == 200 and page.content.count(b'data-testid="state"') == 3
    with django_assert_max_num_queries(8):
        rows = client.get("/contributions/mine", headers={"HX-Request": "true"})
    assert rows.content.lstrip().startswith(b"<tbody") and b"Uploaded" in rows.content
    form_page = client.get("/contributions/new")
    assert form_page.status_code == 200 and b"data-upload-form" in form_page.content


@pytest.mark.django_db
def test_the_upload_form_works_without_javascript(signed_in, idao):
    client = signed_in(BOB)
    r = client.post("/contributions/new", form(b"plain,form\n", idao=idao.slug))
    assert r.status_code == 302 and r["Location"] == "/contributions/mine"
    refused = client.post("/contributions/new", form(b"", idao=idao.slug))
    assert refused.status_code == 422 and b"The file is empty." in refused.content


class _Body:
    """A 64 MiB multipart body generated on the fly, never held in memory."""

    def __init__(self, boundary: str, mib: int) -> None:
        self.parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
        ]
        self.block = bytes(range(256)) * 4096  # 1 MiB
        self.left = mib
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.size = len(self.parts[0]) + mib * len(self.block) + len(self.tail)

    def read(self, n: int = -1) -> bytes:
        if self.parts:
            return self.parts.pop()
        if self.left:
            self.left -= 1
            return self.block
        tail, self.tail = self.tail, b""
        return tail


def test_streaming_upload_memory_stays_flat():
    import tracemalloc

    from django.http.multipartparser import MultiPartParser

    from contributions.uploads import HashingUploadHandler

    body = _Body("flatBOUNDARY", 64)
    meta = {"CONTENT_TYPE": "multipart/form-data; boundary=flatBOUNDARY", "CONTENT_LENGTH": str(body.size)}
    tracemalloc.start()
    _post, files = MultiPartParser(meta, body, [HashingUploadHandler()], "utf-8").parse()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    upload = files["file"]
    assert upload.size == 64 * 1024 * 1024
    assert upload.sha256 == "0x" + hashlib.sha256(body.block * 64).hexdigest()
    upload.discard()
    assert peak < 16 * 1024 * 1024, f"peak Python allocations {peak / 1e6:.1f} MB for a 64 MiB upload"


def test_the_keccak_of_a_one_chunk_and_a_many_chunk_upload_is_the_files():
    from tests.quorums.factories import staged

    for size in (10, 1024 * 1024, 3 * 1024 * 1024 + 7):  # one chunk inline; more start the hashing thread
        content = bytes(i % 251 for i in range(size))
        upload = staged(content, name="bytes.bin", content_type="application/octet-stream")
        try:
            k = keccak.new(digest_bits=256)
            k.update(content)
            assert upload.keccak256 == "0x" + k.hexdigest(), size
            assert upload.sha256 == "0x" + hashlib.sha256(content).hexdigest()
        finally:
            upload.discard()


@pytest.mark.django_db
def test_the_upload_form_states_the_minimum_and_a_one_byte_upload_is_flagged_too_small(signed_in, idao):
    client = signed_in(BOB)
    page = client.get("/contributions/new").content.decode()
    assert "At least 16 bytes of real content" in page
    assert '<select name="licence"' in page and '<option value="other">' in page and 'name="quota"' in page
    client.post("/contributions/new", form(b"x", idao=idao.slug))
    tiny = Contribution.objects.get(size=1)
    assert tiny.flags == ["too_small"]
    mine = client.get("/contributions/mine").content.decode()
    assert "too_small" in mine and "too little to be useful" in mine


@pytest.mark.django_db
def test_the_upload_form_takes_other_licence_quota_and_expiry(signed_in, idao):
    r = signed_in(BOB).post(
        "/contributions/new",
        form(
            b"id,value\n1,2\n3,4\n5,6\n",
            idao=idao.slug,
            licence="other",
            licence_other="LicenseRef-Hospital-1",
            quota="25",
            expiry_days="30",
        ),
    )
    assert r.status_code == 302
    c = Contribution.objects.get()
    assert c.licence == "LicenseRef-Hospital-1" and c.flags == []
    assert c.usage_policy["quota"] == 25 and c.usage_policy["expiry_days"] == 30
    refused = signed_in(BOB).post(
        "/contributions/new", form(b"id\n1\n2\n3\n4\n5\n6\n", idao=idao.slug, licence="other")
    )
    assert refused.status_code == 422 and b"Name the licence" in refused.content
