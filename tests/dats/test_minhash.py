"""Each accepted DAT's MinHash: computed at mint (small files) or by a follow-up task (large ones),
through the storage API, with the validator package's own function; stored in the DAT record and
the anchored mint record; published at GET /api/v1/minhashes with a cursor."""

from __future__ import annotations

import json

import pytest

from dats.minhash import MINHASH_AT_MINT_BYTES
from dats.models import DAT
from ledger.models import Leaf
from tests.celery_helpers import wait_for
from tests.dats.factories import make_idao, minted
from tests.personas import ALICE, BOB
from validator.checks.base import Content
from validator.checks.duplicates import SCHEME, signature

TEXT = b"name,city,comment\n" + b"".join(
    f"person {i},town {i % 7},a fairly ordinary sentence number {i}\n".encode() for i in range(200)
)


def expected(data: bytes, tmp_path) -> list[int]:
    return signature(Content.from_bytes(data, tmp_path / "f.csv", name="data.csv"), "csv")


@pytest.mark.django_db
def test_a_minted_dat_carries_the_minhash_a_node_computes_from_the_bytes(client, tmp_path):
    idao = make_idao(ALICE)
    dat = minted(idao, BOB, content=TEXT)
    dat.refresh_from_db()
    assert dat.minhash == expected(TEXT, tmp_path) and len(dat.minhash) == 128
    record = json.loads(Leaf.objects.get(pk=dat.anchor_leaf_id).payload_json)
    assert record["minhash"] == dat.minhash  # anchored with the mint
    assert client.get(f"/api/v1/dats/{dat.pk}").json()["minhash"] == dat.minhash


@pytest.mark.django_db
def test_minhashes_are_published_in_order_with_a_cursor(client):
    idao = make_idao(ALICE)
    dats = [minted(idao, BOB, content=TEXT + f"extra {i}\n".encode()) for i in range(3)]
    page = client.get("/api/v1/minhashes").json()
    assert page["scheme"] == SCHEME
    assert [item["dat"] for item in page["items"]] == [str(d.pk) for d in dats]
    first = page["items"][0]
    assert set(first) == {"dat", "content_hash", "owner", "accepted_at", "minhash"}
    assert first["owner"] == BOB.address and first["content_hash"] == dats[0].sha256
    assert first["accepted_at"].endswith("Z") and len(first["minhash"]) == 128
    later = minted(idao, BOB, content=TEXT + b"one more\n")
    resumed = client.get("/api/v1/minhashes", {"after": page["next"]}).json()
    assert [item["dat"] for item in resumed["items"]] == [str(later.pk)]
    assert client.get("/api/v1/minhashes", {"after": resumed["next"]}).json() == {
        "scheme": SCHEME,
        "items": [],
        "next": None,
    }


@pytest.mark.django_db(transaction=True)
def test_a_large_file_gets_its_minhash_from_the_follow_up_task(celery_worker, broker, tmp_path):
    idao = make_idao(ALICE)
    big = TEXT * (MINHASH_AT_MINT_BYTES // len(TEXT) + 2)
    dat = minted(idao, BOB, content=big)
    wait_for(lambda: DAT.objects.filter(pk=dat.pk, minhash_seq__isnull=False).exists(), timeout=60)
    dat.refresh_from_db()
    assert dat.minhash == expected(big, tmp_path)
