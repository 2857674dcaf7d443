"""Access grants: each decision with its exact reason, the fee moved once per idempotency key and
split per charter, granted downloads that match the content hash, and manifests of DATs."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dats import services as dat_services
from dats.models import DAT, AccessGrant
from dats.services import access_request
from idaos.models import AIModel, ManifestEntry, ModelVersion
from idaos.rules import clean_data_refs
from ledger import owners
from ledger.models import Leaf, Transaction
from ledger.selectors import balance
from tests.dats.factories import credit, make_idao, minted, token_for, user_of, user_owner
from tests.personas import ALICE, BOB, CAROL

URL = "/api/v1/dats/{}/access"


def ask(client, dat, raw, use="training", key="k1"):
    return client.post(
        URL.format(dat.pk),
        {"use": use},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.fixture
def dat(db):
    idao = make_idao(
        ALICE, slug="open-science", split_contributors_bps=7000, split_treasury_bps=2000, split_validators_bps=1000
    )
    return minted(idao, BOB, policy={"allowed_uses": ["training", "inference"], "price": 100, "quota": 2})


@pytest.mark.django_db
def test_allowed_access_is_granted_paid_split_per_charter_counted_and_anchored(client, dat):
    raw, _token = token_for(CAROL)
    credit(user_owner(CAROL), 250)
    response = ask(client, dat, raw)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["use"], body["fee"], body["ownerShare"], body["idaoShare"], body["replayed"]) == (
        "training",
        "100",
        "70",
        "30",
        False,
    )
    assert balance(user_owner(CAROL), "CREDIT") == 150
    assert balance(user_owner(BOB), "CREDIT") == 70
    assert balance(owners.idao("open-science"), "CREDIT") == 30
    dat.refresh_from_db()
    assert dat.used == 1
    assert Leaf.objects.filter(pk=body["anchorLeafId"], kind="dat.access").exists()
    assert Transaction.objects.get(pk=body["ledgerTransaction"]).kind == "fee"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setup", "use", "code", "status"),
    [
        (lambda d: None, "commercial", "use_not_allowed", 403),
        (lambda d: DAT.objects.filter(pk=d.pk).update(used=2), "training", "quota_exhausted", 403),
        (
            lambda d: DAT.objects.filter(pk=d.pk).update(expires_at=timezone.now() - timedelta(seconds=1)),
            "training",
            "dat_expired",
            403,
        ),
        (lambda d: dat_services.dat_revoke(dat_id=d.pk, actor=d.owner), "training", "dat_revoked", 403),
        (lambda d: None, "inference", "insufficient_credit", 402),
    ],
    ids=["wrong-use", "quota-exhausted", "expired", "revoked", "unpaid"],
)
def test_each_denial_names_its_exact_reason_and_moves_nothing(client, dat, setup, use, code, status):
    raw, _token = token_for(CAROL)
    if code != "insufficient_credit":
        credit(user_owner(CAROL), 1000)
    else:
        credit(user_owner(CAROL), 99)  # one short of the price
    setup(dat)
    response = ask(client, dat, raw, use=use)
    assert response.status_code == status, response.content
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert not AccessGrant.objects.exists()
    assert balance(user_owner(BOB), "CREDIT") == 0


@pytest.mark.django_db
def test_a_repeated_request_with_the_same_key_moves_the_fee_once(client, dat):
    raw, _token = token_for(CAROL)
    credit(user_owner(CAROL), 1000)
    first = ask(client, dat, raw, key="job-42")
    again = ask(client, dat, raw, key="job-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["grant"] == first.json()["grant"] and again.json()["replayed"] is True
    assert balance(user_owner(CAROL), "CREDIT") == 900
    assert AccessGrant.objects.count() == 1
    assert DAT.objects.get(pk=dat.pk).used == 1
    other_use = ask(client, dat, raw, use="inference", key="job-42")
    assert (other_use.status_code, other_use.json()["error"]) == (409, "idempotency_key_reused")


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_grant_and_charge_once():
    idao = make_idao(ALICE, slug="race")
    dat = minted(idao, BOB, policy={"allowed_uses": ["training"], "price": 10})
    _raw, token = token_for(CAROL)
    credit(user_owner(CAROL), 100)
    barrier, grants, errors = threading.Barrier(4), [], []

    def run():
        try:
            barrier.wait()
            grants.append(access_request(dat_id=dat.pk, token=token, use="training", idempotency_key="same").grant.pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(grants)) == 1
    assert balance(user_owner(CAROL), "CREDIT") == 90
    assert DAT.objects.get(pk=dat.pk).used == 1


@pytest.mark.django_db
def test_tokens_without_the_scope_or_sessions_get_a_precise_refusal(client, signed_in, dat):
    raw, _ = token_for(CAROL, scopes=["usage:report"])
    response = ask(client, dat, raw)
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")
    session = signed_in(CAROL).post(
        URL.format(dat.pk), {"use": "training", "idempotency_key": "x"}, content_type="application/json"
    )
    assert (session.status_code, session.json()["error"]) == (403, "token_required")
    assert ask(client, dat, "idao_not-a-token").status_code == 401


@pytest.mark.django_db
def test_an_idao_token_pays_from_the_treasury_while_its_creator_is_a_steward(client, dat):
    raw, _ = token_for(ALICE, subject="idao:open-science")
    credit(owners.idao("open-science"), 500)
    response = ask(client, dat, raw)
    assert response.status_code == 201, response.content
    assert response.json()["payer"] == "idao:open-science"
    # The iDAO paid 100 and received its 30 share back: net 70 out.
    assert balance(owners.idao("open-science"), "CREDIT") == 430
    raw_bob, _ = token_for(BOB, subject="idao:open-science")  # bob is not a steward
    refused = ask(client, dat, raw_bob, key="k2")
    assert (refused.status_code, refused.json()["error"]) == (403, "token_subject_forbidden")


@pytest.mark.django_db
def test_a_grant_lets_the_pipeline_download_the_file_and_check_its_hash(client, dat):
    raw, _ = token_for(CAROL)
    credit(user_owner(CAROL), 100)
    denied = client.get(f"/api/v1/dats/{dat.pk}/file", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert (denied.status_code, denied.json()["error"]) == (403, "no_grant")
    assert ask(client, dat, raw).status_code == 201
    response = client.get(f"/api/v1/dats/{dat.pk}/file", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert "0x" + hashlib.sha256(content).hexdigest() == dat.sha256 == response["X-Content-SHA256"]


def _model_with(idao, refs):
    model = AIModel.objects.create(idao=idao, name="Diagnoser", created_by=user_of(ALICE))
    version = ModelVersion.objects.create(model=model, number=1, artifact_hash="0x" + "cd" * 32, current=True)
    for ref in refs:
        ManifestEntry.objects.create(model_version=version, data_ref=ref)
    return model


@pytest.mark.django_db
def test_including_a_dat_that_forbids_training_in_a_manifest_is_refused(dat):
    no_training = minted(dat.idao, BOB, policy={"allowed_uses": ["inference"]})
    assert clean_data_refs(dat.idao, [f"dat:{dat.pk}"]) == [f"dat:{dat.pk}"]
    from dats.integrations import DatForbidsTraining

    with pytest.raises(DatForbidsTraining, match=f"DAT #{no_training.pk}"):
        clean_data_refs(dat.idao, [f"dat:{no_training.pk}"])
    with pytest.raises(DatForbidsTraining):
        clean_data_refs(dat.idao, [no_training.sha256])  # by content hash too


@pytest.mark.django_db
def test_manifest_api_returns_the_approved_dats_with_hashes_and_flags_forbidden_training(client, dat):
    other = minted(dat.idao, CAROL, policy={"allowed_uses": ["training"]})
    model = _model_with(dat.idao, [f"dat:{dat.pk}", other.sha256])
    body = client.get(f"/api/v1/models/{model.pk}/manifest").json()
    assert [(e["tokenId"], e["sha256"], e["trainingAllowed"]) for e in body["entries"]] == [
        (dat.pk, dat.sha256, True),
        (other.pk, other.sha256, True),
    ]
    assert body["flagged"] is False and body["version"] == 1
    dat_services.dat_policy_change(dat_id=other.pk, actor=other.owner, changes={"allowed_uses": ["inference"]})
    body = client.get(f"/api/v1/models/{model.pk}/manifest?version=1").json()
    assert body["flagged"] is True and body["entries"][1]["trainingAllowed"] is False
    page = client.get(f"/dats/models/{model.pk}/")
    assert page.status_code == 200 and b'data-testid="training-flag"' in page.content
    assert client.get(f"/api/v1/models/{model.pk}/manifest?version=9").json()["error"] == "version_not_found"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_exceed_the_quota():
    dat = minted(make_idao(ALICE, slug="quota-race"), BOB, policy={"allowed_uses": ["training"], "quota": 2})
    _raw, token = token_for(CAROL)
    barrier, outcomes = threading.Barrier(5), []

    def run(i):
        try:
            barrier.wait()
            access_request(dat_id=dat.pk, token=token, use="training", idempotency_key=f"k{i}")
            outcomes.append("granted")
        except Exception as exc:
            outcomes.append(getattr(exc, "code", repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["granted", "granted", "quota_exhausted", "quota_exhausted", "quota_exhausted"]
    assert DAT.objects.get(pk=dat.pk).used == 2 and AccessGrant.objects.count() == 2
