"""A committee nobody here can choose, with a public chain (issue 12, point 3): the seed also takes
the hash of the first chain block after the round opened (py-evm behind JSON-RPC, tests/chain), the
round waits in `drawing` until that block exists and names why while it waits (no block yet, the
chain unreachable), and the round bundle carries the block and verifies offline."""

from __future__ import annotations

import copy
import json

import pytest

from ledger.services import block_seal
from quorums import services
from quorums.bundles import InvalidRoundBundle, verify
from quorums.consensus import round_seed
from quorums.models import Round, Seat
from quorums.services.rounds import rounds_draw
from quorums.tasks import sweep
from tests.celery_helpers import wait_for
from tests.chain import LocalChain
from tests.quorums.factories import PROBE, setup_network, signed

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def evm():
    """Started before each test's transaction (whose database time is the rounds' opening time),
    so its genesis block is not after any opening."""
    local = LocalChain()
    yield local
    local.stop()


@pytest.fixture
def chain(settings, evm):
    chain_id = evm.w3.eth.chain_id
    settings.PORTAL_CHAIN_RPC = {chain_id: evm.url}
    settings.QUORUM_SEED_CHAIN_ID = chain_id
    settings.QUORUM_SEED_CONFIRMATIONS = 1
    return evm


def _dead_url() -> str:
    down = LocalChain()
    url = down.url
    down.stop()
    return url


def _mine_after(chain: LocalChain, r: Round) -> dict:
    """Mine the chain's first block after the round's opening second, and one on top of it."""
    target = int(r.opened_at.timestamp()) + 7
    if target > chain.tester.get_block_by_number("pending")["timestamp"]:
        chain.tester.time_travel(target)
    else:
        chain.tester.mine_blocks(1)
    block = chain.tester.get_block_by_number("latest")
    chain.tester.mine_blocks(1)
    return block


def test_the_seed_takes_the_first_chain_block_after_opening_and_the_round_bundle_verifies_it(chain, client):
    idao, _quorum, ps = setup_network(5, stakes=[1000, 2000, 3000, 4000, 5000], committee_size=3)
    block_seal()
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="c", content_hash="0x" + "0c" * 32)
    assert (r.state, r.seed, Seat.objects.filter(round=r).count()) == ("drawing", "", 0)
    # No block after the opening yet: the round waits and says so.
    assert rounds_draw(round_ids=[r.pk]) == {"drawn": 0, "waiting": 1}
    r.refresh_from_db()
    assert r.state == "drawing" and "Waiting for the first block of chain" in r.draw_note
    assert "Waiting for the first block" in client.get(f"/rounds/{r.pk}/").content.decode()
    # The first block after it exists but has no block on top yet (QUORUM_SEED_CONFIRMATIONS=1).
    opened = int(r.opened_at.timestamp())
    chain.tester.time_travel(opened + 7)
    first = chain.tester.get_block_by_number("latest")
    assert rounds_draw(round_ids=[r.pk])["waiting"] == 1
    chain.tester.mine_blocks(2)
    assert rounds_draw(round_ids=[r.pk]) == {"drawn": 1, "waiting": 0}
    assert rounds_draw(round_ids=[r.pk]) == {"drawn": 0, "waiting": 0}  # safe to run twice
    r.refresh_from_db()
    assert r.state == "open" and r.draw_note == ""
    assert (r.beacon_block_number, r.beacon_block_hash) == (first["number"], first["hash"])
    assert r.beacon_block_timestamp > opened
    assert r.seed == round_seed(
        block_hash=r.seed_block_hash,
        quorum_id=r.quorum_id,
        round_id=r.pk,
        content_hash=r.content_hash,
        attempt=1,
        beacon_hash=first["hash"],
    )
    assert r.seed != round_seed(
        block_hash=r.seed_block_hash, quorum_id=r.quorum_id, round_id=r.pk, content_hash=r.content_hash, attempt=1
    )
    detail = client.get(f"/api/v1/rounds/{r.pk}").json()
    assert detail["seed_chain_block"] == {
        "chain_id": chain.w3.eth.chain_id,
        "number": first["number"],
        "hash": first["hash"],
        "timestamp": r.beacon_block_timestamp,
    }
    assert first["hash"] in client.get(f"/rounds/{r.pk}/").content.decode()

    seated = set(r.seats.values_list("address", flat=True))
    assert len(seated) == 3
    for p in ps:
        if p.address in seated:
            services.verdict_submit(round_id=r.pk, **signed(p, r))
    services.round_close(round_id=r.pk)
    block_seal()
    bundle = client.get(f"/rounds/{r.pk}/bundle.json").json()
    report = verify(bundle)
    assert report.outcome == "accepted"
    assert any(f"block {first['number']} hash {first['hash']}" in line for line in report.checks)

    # Any change to the chain block, the seed or the draw record fails verification.
    forged = copy.deepcopy(bundle)
    payload = json.loads(forged["draw"]["leaf"]["payload"])
    payload["beacon"]["hash"] = "0x" + "ee" * 32
    forged["draw"]["leaf"]["payload"] = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    with pytest.raises(InvalidRoundBundle, match="draw record"):
        verify(forged)
    seed = copy.deepcopy(bundle)
    seed["seed"] = seed["seed"][:-1] + ("0" if seed["seed"][-1] != "0" else "1")
    with pytest.raises(InvalidRoundBundle, match="seed"):
        verify(seed)
    missing = copy.deepcopy(bundle)
    missing["draw"] = None
    with pytest.raises(InvalidRoundBundle, match="draw record is missing"):
        verify(missing)
    stake = copy.deepcopy(bundle)
    stake["candidates"][0][2] += 1
    with pytest.raises(InvalidRoundBundle, match="candidates"):
        verify(stake)


def test_an_unreachable_chain_keeps_the_round_drawing_with_the_reason_until_the_sweep_draws_it(chain, settings):
    idao, _quorum, _ps = setup_network(3, committee_size=3)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="d", content_hash="0x" + "0d" * 32)
    live = settings.PORTAL_CHAIN_RPC
    settings.PORTAL_CHAIN_RPC = {settings.QUORUM_SEED_CHAIN_ID: _dead_url()}
    _mine_after(chain, r)  # the block exists, but the portal cannot read the chain
    assert rounds_draw(round_ids=[r.pk]) == {"drawn": 0, "waiting": 1}
    r.refresh_from_db()
    assert r.state == "drawing" and r.seed == "" and not r.seats.exists()  # no fallback to a grindable seed
    assert "cannot be drawn yet" in r.draw_note and "could not answer" in r.draw_note
    settings.PORTAL_CHAIN_RPC = live
    assert sweep()["drawn"] == 1  # the sweep retries whatever the task gave up on
    r.refresh_from_db()
    assert r.state == "open" and r.seats.count() == 3 and r.beacon_block_number is not None


@pytest.mark.django_db(transaction=True)
def test_the_draw_task_keeps_trying_through_the_broker_until_the_block_exists(settings, broker, celery_worker):
    fresh = LocalChain()  # its genesis is not after the opening below
    try:
        chain_id = fresh.w3.eth.chain_id
        settings.PORTAL_CHAIN_RPC = {chain_id: fresh.url}
        settings.QUORUM_SEED_CHAIN_ID = chain_id
        settings.QUORUM_SEED_CONFIRMATIONS = 1
        settings.QUORUM_DRAW_RETRY_SECONDS = 0.1
        idao, _quorum, _ps = setup_network(3, committee_size=3)
        r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="t", content_hash="0x" + "0e" * 32)
        wait_for(
            lambda: fresh.calls.get("eth_getBlockByNumber", 0) >= 2
        )  # the task looked, found nothing, looked again
        assert Round.objects.get(pk=r.pk).state == "drawing"
        first = _mine_after(fresh, r)
        drawn = wait_for(lambda: Round.objects.filter(pk=r.pk, state="open").first())
        assert drawn.beacon_block_hash == first["hash"] and drawn.seats.count() == 3
    finally:
        fresh.stop()


def test_an_appeal_panel_also_waits_for_the_chain_block_and_is_drawn_from_it_disjoint_from_the_first_round(
    chain, client
):
    """Appeal (and DAT challenge) panels are rounds like any other: with a public chain, their
    committee too is drawn only once the chain's first block after their opening exists."""
    from ledger import owners
    from ledger import services as ledger
    from tests.quorums.factories import scored, user_of
    from tests.quorums.test_appeals import BOB, BOND, _rejected

    def drawn(r: Round) -> Round:
        _mine_after(chain, r)
        assert rounds_draw(round_ids=[r.pk])["drawn"] == 1
        r.refresh_from_db()
        return r

    block_seal()
    _idao, _q, ps, _c, first, _seated = _rejected(draw=drawn)
    assert first.beacon_block_hash
    ledger.mint(to=owners.user(BOB.address), asset="CREDIT", amount=BOND, idempotency_key="chain-appeal-bond")
    appeal = services.appeal_file(round_id=first.pk, user=user_of(BOB), reason="nothing personal in it")
    panel = appeal.appeal_round
    assert (panel.state, panel.seed, panel.seats.count()) == ("drawing", "", 0)
    assert "Waiting for the first block" in client.get(f"/rounds/{panel.pk}/").content.decode()
    panel = drawn(panel)
    assert panel.state == "open" and panel.seats.count() == 7
    assert panel.seed == round_seed(
        block_hash=panel.seed_block_hash,
        quorum_id=panel.quorum_id,
        round_id=panel.pk,
        content_hash=panel.content_hash,
        attempt=panel.attempt,
        beacon_hash=panel.beacon_block_hash,
    )
    assert not set(panel.seats.values_list("validator_id", flat=True)) & set(
        first.seats.values_list("validator_id", flat=True)
    )
    by_address = {p.address: p for p in ps}
    for address in panel.seats.values_list("address", flat=True):
        services.verdict_submit(round_id=panel.pk, **scored(by_address[address], panel, "reject", "pii: x", scores={}))
    assert services.round_close(round_id=panel.pk).outcome == "rejected"
    block_seal()
    report = verify(client.get(f"/rounds/{panel.pk}/bundle.json").json())
    assert report.outcome == "rejected"
    assert any(f"hash {panel.beacon_block_hash}" in line for line in report.checks)
