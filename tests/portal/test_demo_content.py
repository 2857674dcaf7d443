"""The demo's content works (issue 11 point 13): every demo DAT and contribution has its real
file in storage, demo DATs carry the price their contributors asked for, and the demo iDAO
always has a proposal open to vote on."""

from __future__ import annotations

import hashlib
import importlib
import io

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from contributions import demo as contributions_demo
from contributions.models import Contribution
from dats.models import DAT
from idaos import demo as idaos_demo
from idaos import schedule as idaos_schedule
from idaos.models import Proposal, ProposalState
from idaos.services import proposals
from idaos.tasks import demo_proposal_renew
from portal import demo as portal_demo
from portal.celery import beat_schedule
from quorums import demo as quorums_demo
from rewards import demo as rewards_demo
from tests.celery_helpers import wait_for


def _load() -> None:
    out = io.StringIO()
    for module in (portal_demo, idaos_demo, quorums_demo, contributions_demo, rewards_demo):
        module.load(out)


@pytest.mark.django_db
def test_every_demo_dat_has_its_file_and_its_owner_downloads_the_bytes():
    _load()
    dats = list(DAT.objects.select_related("contribution", "owner"))
    assert dats
    for dat in dats:
        with default_storage.open(dat.contribution.storage_name, "rb") as fh:
            assert "0x" + hashlib.sha256(fh.read()).hexdigest() == dat.sha256
        client = Client()
        client.force_login(dat.owner)
        api = client.get(f"/api/v1/dats/{dat.pk}/file")
        assert api.status_code == 200, api.content
        assert "0x" + hashlib.sha256(b"".join(api.streaming_content)).hexdigest() == dat.sha256
        page = client.get(f"/contributions/{dat.contribution.public_id}/file")
        assert page.status_code == 200
        assert "0x" + hashlib.sha256(b"".join(page.streaming_content)).hexdigest() == dat.sha256


@pytest.mark.django_db
def test_demo_dats_have_the_prices_their_policies_ask_for():
    _load()
    assert DAT.objects.exists()
    assert set(DAT.objects.values_list("price_credit", flat=True)) == {rewards_demo.PRICE}
    uploaded = Contribution.objects.filter(description="Demo contribution.")
    assert uploaded.exists()
    assert {c.usage_policy.get("price") for c in uploaded} == {2}


@pytest.mark.django_db
def test_a_demo_dat_loaded_without_its_file_gets_it_on_the_next_load():
    _load()
    dat = DAT.objects.select_related("contribution").first()
    default_storage.delete(dat.contribution.storage_name)
    rewards_demo.load(io.StringIO())
    assert default_storage.exists(dat.contribution.storage_name)


@pytest.mark.django_db
def test_the_demo_opens_a_new_proposal_when_the_last_one_closes():
    _load()
    active = Proposal.objects.get(idao__slug="open-health", state=ProposalState.ACTIVE)
    assert demo_proposal_renew() is None  # one is open: nothing to do
    proposals.proposal_close(proposal_id=active.pk, now=active.voting_ends_at + timezone.timedelta(seconds=1))
    assert not Proposal.objects.filter(idao__slug="open-health", state=ProposalState.ACTIVE).exists()
    renewed = demo_proposal_renew()
    assert Proposal.objects.get(idao__slug="open-health", state=ProposalState.ACTIVE).pk == renewed
    assert demo_proposal_renew() is None


def test_the_proposal_renewal_is_on_the_beat_schedule_only_when_the_demo_is_on(settings):
    try:
        settings.PORTAL_DEMO_PROPOSALS = True
        importlib.reload(idaos_schedule)
        assert beat_schedule()["idaos-demo-proposal"]["task"] == "idaos.tasks.demo_proposal_renew"
        settings.PORTAL_DEMO_PROPOSALS = False
        importlib.reload(idaos_schedule)
        assert "idaos-demo-proposal" not in beat_schedule()
    finally:
        importlib.reload(idaos_schedule)


@pytest.mark.django_db(transaction=True)
def test_a_worker_renews_the_demo_proposal_once_the_last_one_closed(broker, celery_worker):
    _load()
    active = Proposal.objects.get(idao__slug="open-health", state=ProposalState.ACTIVE)
    proposals.proposal_close(proposal_id=active.pk, now=active.voting_ends_at + timezone.timedelta(seconds=1))
    demo_proposal_renew.delay()
    renewed = wait_for(lambda: Proposal.objects.filter(idao__slug="open-health", state=ProposalState.ACTIVE).first())
    assert renewed.pk != active.pk
