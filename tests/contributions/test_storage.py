"""Uploads, validation and downloads go only through Django's storage API: the whole flow works on
InMemoryStorage, where no file exists on disk."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from contributions.models import Contribution
from contributions.services import contribution_route
from dats.models import DAT
from portal.api_tokens import api_token_create
from quorums import services
from tests.contributions.test_uploads import URL, form
from tests.personas import BOB
from tests.quorums.factories import member, setup_network, signed, user_of


@pytest.fixture
def in_memory(settings):
    """STORAGES overridden: Django's setting_changed handler resets default_storage."""
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    return default_storage


def storages_default():
    from django.core.files.storage import storages

    return storages["default"]


@pytest.mark.django_db
def test_upload_validation_and_download_work_on_in_memory_storage(in_memory, signed_in):
    from django.core.files.storage import InMemoryStorage

    assert isinstance(storages_default(), InMemoryStorage)
    in_memory = storages_default()
    idao, _quorum, ps = setup_network(3)
    member(idao, BOB)
    content = b"city,temperature\n" + b"".join(f"town {i},{i % 30}\n".encode() for i in range(50))
    up = signed_in(BOB).post(URL, form(content, idao=idao.slug))
    assert up.status_code == 201
    c = Contribution.objects.get(public_id=up.json()["id"])
    assert in_memory.exists(c.storage_name)
    assert not os.path.exists(in_memory.path(c.storage_name))  # nothing on disk to fall back on
    contribution_route(contribution_id=c.pk)
    c.refresh_from_db()
    seated = {s.address for s in c.round.seats.all()}
    for p in ps:
        if p.address not in seated:
            continue
        raw, _ = api_token_create(user=user_of(p), name="node", subject="", scopes=["validator"])
        node = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        [assignment] = node.get("/api/v1/validator/assignments?inline_max=65536").json()
        assert base64.b64decode(assignment["subject"]["content_base64"]) == content  # read through storage
        download = node.get(assignment["subject"]["download_url"])
        assert download.status_code == 200 and b"".join(download.streaming_content) == content
        body = {"verdicts": [{"round": c.round_id, **signed(p, c.round)}]}
        assert node.post("/api/v1/verdicts", body, content_type="application/json").status_code == 200
    services.round_close(round_id=c.round_id)
    c.refresh_from_db()
    assert c.state == "accepted"
    dat = DAT.objects.get(contribution=c)
    assert dat.minhash and len(dat.minhash) == 128  # computed from the in-memory bytes
    owner = signed_in(BOB).get(f"/contributions/{c.public_id}/file")
    assert owner.status_code == 200 and b"".join(owner.streaming_content) == content
