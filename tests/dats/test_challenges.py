"""Challenges to accepted DATs: while challenged the DAT is contested and its contributor payouts
wait in escrow; upheld revokes it and returns the escrow to the reward pool (payouts of that
epoch and the next still sum exactly to their pools); dismissed pays the bond to the owner and
the treasury; challenging a DAT already under challenge is its own code with nothing moved."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from contributions.models import Contribution
from dats.models import DAT, Challenge
from dats.services.challenges import DatContested, challenge_file
from ledger import owners
from ledger import services as ledger
from ledger.selectors import balance
from quorums import services
from quorums.models import Round
from rewards.models import Epoch, Payout, UsageEvent, UsageReport
from rewards.services.epochs import epoch_close, epoch_current
from rewards.services.metering import epoch_usage_add
from tests.dats.factories import make_contribution
from tests.personas import BOB, CAROL, MALLORY
from tests.quorums.factories import member, scored, setup_network, user_of
from tests.rewards.factories import make_model

BOND = 100
_clock = itertools.count(1)


def _minted():
    idao, _q, ps = setup_network(10, committee_size=3, appeal_bond=BOND, appeal_bounty_bps=5000)
    member(idao, BOB)
    c = make_contribution(idao, BOB)
    r = services.round_open(idao_id=idao.pk, subject_kind="contribution", subject_ref=str(c.pk), content_hash=c.sha256)
    Contribution.objects.filter(pk=c.pk).update(round=r, state="routed")
    by_address = {p.address: p for p in ps}
    for a in r.seats.values_list("address", flat=True):
        services.verdict_submit(round_id=r.pk, **scored(by_address[a], r, scores={}))
    services.round_close(round_id=r.pk)
    return idao, ps, DAT.objects.get(contribution=c)


def _credit(p, amount: int) -> None:
    ledger.mint(to=owners.user(p.address), asset="CREDIT", amount=amount, idempotency_key=f"challenge-test:{p.address}")


def _decide(panel: Round, ps, verdict: str) -> None:
    by_address = {p.address: p for p in ps}
    for a in panel.seats.values_list("address", flat=True):
        services.verdict_submit(
            round_id=panel.pk,
            **scored(by_address[a], panel, verdict, "" if verdict == "approve" else "duplicate: x", scores={}),
        )
    services.round_close(round_id=panel.pk)


def _epoch_with_usage(version, units: int) -> dict[str, int]:
    """Close an epoch in which `version` was used `units` times; the payout totals per asset."""
    base = timezone.now() - timedelta(days=300) + timedelta(hours=next(_clock) * 2)
    epoch = epoch_current(now=base)
    reporter = user_of(CAROL)
    report = UsageReport.objects.create(reporter=reporter, payer="user:x", epoch=epoch, received=1)
    UsageEvent.objects.create(
        reporter=reporter,
        idempotency_key=f"c{epoch.pk}",
        report=report,
        epoch=epoch,
        idao_id=version.model.idao_id,
        model_version=version,
        kind="inference",
        units=units,
        weighted=units,
        fee=units,
        occurred_at=base,
    )
    epoch_usage_add(report_id=report.pk)
    ledger.mint(to=owners.REWARD_POOL, asset="CREDIT", amount=units, idempotency_key=f"challenge-fees:{epoch.pk}")
    closed = epoch_close(epoch_id=epoch.pk, now=epoch.ends_at)
    totals = {a: int(s) for a, s in Payout.objects.filter(epoch=closed).values_list("asset").annotate(s=Sum("amount"))}
    assert totals == {"LAZ": int(closed.pool_laz), "CREDIT": int(closed.pool_credit)}
    return totals


@pytest.mark.django_db
def test_an_upheld_challenge_revokes_the_dat_and_returns_its_escrowed_payouts_to_the_pool(client):
    idao, ps, dat = _minted()
    version = make_model(idao=idao, artifact_hash=dat.sha256, manifest=[], name="own")
    _credit(MALLORY, BOND)
    challenge = challenge_file(
        dat_id=dat.pk, user=user_of(MALLORY), reason_code="duplicate", evidence="the same rows as DAT 1"
    )
    dat.refresh_from_db()
    assert dat.status == "contested" and balance(challenge.escrow_owner, "CREDIT") == BOND
    assert client.get(f"/api/v1/dats/{dat.pk}").json()["status"] == "contested"
    _epoch_with_usage(version, 1000)
    escrowed = {a: balance(dat.escrow_owner, a) for a in ("LAZ", "CREDIT")}
    assert escrowed["LAZ"] > 0 and balance(owners.user(BOB.address), "LAZ") == 0  # held, not paid
    pool_before = balance(owners.REWARD_POOL, "LAZ")
    _decide(challenge.panel_round, ps, "reject")
    challenge.refresh_from_db()
    dat.refresh_from_db()
    assert challenge.state == "upheld" and dat.status == "revoked"
    assert balance(owners.REWARD_POOL, "LAZ") == pool_before + escrowed["LAZ"] and balance(dat.escrow_owner, "LAZ") == 0
    # Bond back; a duplicate is objective: the DAT round's three approvers lose 10% of 1000 each = 300 LAZ,
    # and the challenger gets 50% of it.
    assert balance(owners.user(MALLORY.address), "CREDIT") == BOND
    assert challenge.outcome["bounty"] == 150 and len(challenge.outcome["slashes"]) == 3
    assert balance(owners.user(MALLORY.address), "LAZ") == 150
    _epoch_with_usage(version, 500)  # the next epoch still sums exactly to its pool (asserted inside)


@pytest.mark.django_db
def test_a_dismissed_challenge_pays_the_bond_to_owner_and_treasury_and_releases_the_escrow():
    idao, ps, dat = _minted()
    version = make_model(idao=idao, artifact_hash=dat.sha256, manifest=[], name="own")
    _credit(MALLORY, BOND)
    challenge = challenge_file(dat_id=dat.pk, user=user_of(MALLORY), reason_code="plagiarism", evidence="I wrote it")
    _credit(CAROL, BOND)
    with pytest.raises(DatContested):
        challenge_file(dat_id=dat.pk, user=user_of(CAROL), reason_code="other", evidence="me too")
    assert balance(owners.user(CAROL.address), "CREDIT") == BOND and Challenge.objects.count() == 1
    _epoch_with_usage(version, 1000)
    escrowed = balance(dat.escrow_owner, "LAZ")
    treasury = balance(idao.treasury_owner, "CREDIT")
    _decide(challenge.panel_round, ps, "approve")
    challenge.refresh_from_db()
    dat.refresh_from_db()
    assert challenge.state == "dismissed" and dat.status == "active"
    assert balance(owners.user(BOB.address), "CREDIT") >= BOND // 2
    assert balance(idao.treasury_owner, "CREDIT") == treasury + BOND - BOND // 2
    assert balance(owners.user(BOB.address), "LAZ") == escrowed and balance(dat.escrow_owner, "LAZ") == 0
    assert balance(owners.user(MALLORY.address), "CREDIT") == 0


@pytest.mark.django_db(transaction=True)
def test_a_challenge_racing_the_epoch_close_lands_the_payout_escrowed_or_paid_exactly_once():
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    idao, ps, dat = _minted()
    version = make_model(idao=idao, artifact_hash=dat.sha256, manifest=[], name="own")
    _credit(MALLORY, BOND)
    base = timezone.now() - timedelta(days=200)
    epoch = epoch_current(now=base)
    reporter = user_of(CAROL)
    report = UsageReport.objects.create(reporter=reporter, payer="user:x", epoch=epoch, received=1)
    UsageEvent.objects.create(
        reporter=reporter,
        idempotency_key="race",
        report=report,
        epoch=epoch,
        idao_id=idao.pk,
        model_version=version,
        kind="inference",
        units=1000,
        weighted=1000,
        fee=0,
        occurred_at=base,
    )
    epoch_usage_add(report_id=report.pk)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(fn) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: epoch_close(epoch_id=epoch.pk, now=epoch.ends_at),)),
        threading.Thread(
            target=run,
            args=(lambda: challenge_file(dat_id=dat.pk, user=user_of(MALLORY), reason_code="other", evidence="race"),),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    [line] = Payout.objects.filter(epoch_id=epoch.pk, role="contributor", dat_id=dat.pk, asset="LAZ")
    paid, held = balance(owners.user(BOB.address), "LAZ"), balance(dat.escrow_owner, "LAZ")
    assert (paid, held) in ((int(line.amount), 0), (0, int(line.amount)))
    assert line.recipient == (dat.escrow_owner if held else owners.user(BOB.address))
    _decide(Challenge.objects.get(dat=dat).panel_round, ps, "approve")  # dismissed: the escrow goes to the owner
    assert (balance(owners.user(BOB.address), "LAZ"), balance(dat.escrow_owner, "LAZ")) == (int(line.amount), 0)


@pytest.mark.django_db
def test_the_challenge_window_ends_with_the_epoch_after_the_mint_and_a_later_challenge_moves_nothing(monkeypatch):
    from dats import hooks
    from dats.services.challenges import ChallengeWindowClosed
    from rewards import conf

    _idao, _ps, dat = _minted()
    length = timedelta(seconds=conf.epoch_seconds())
    minted_in = epoch_current(now=dat.minted_at)  # the real epoch rows, as usage would open them
    following = epoch_current(now=minted_in.ends_at)
    assert following.starts_at == minted_in.ends_at
    assert hooks.challenge_window_ends([dat]) == {dat.pk: following.ends_at}
    # Without epoch rows the provider counts the configured periods: the aligned one holding the mint, then one more.
    Epoch.objects.all().delete()
    seconds = int(length.total_seconds())
    aligned = datetime.fromtimestamp(int(dat.minted_at.timestamp()) // seconds * seconds, tz=UTC)
    assert hooks.challenge_window_ends([dat]) == {dat.pk: aligned + 2 * length}
    # No provider: the quorum's appeal window from the mint.
    with monkeypatch.context() as m:
        m.setattr(hooks, "_CHALLENGE_WINDOW_PROVIDERS", [])
        assert hooks.challenge_window_ends([dat]) == {dat.pk: dat.minted_at + dat.round.quorum.appeal_window}

    # Minted three periods ago (still inside the 3-day appeal window): the epoch window has closed.
    DAT.objects.filter(pk=dat.pk).update(minted_at=dat.minted_at - 3 * length)
    _credit(MALLORY, BOND)
    with pytest.raises(ChallengeWindowClosed) as err:
        challenge_file(dat_id=dat.pk, user=user_of(MALLORY), reason_code="other", evidence="too late")
    assert err.value.code == "challenge_window_closed"
    dat.refresh_from_db()
    assert not Challenge.objects.exists() and dat.status == "active" and dat.contested_at is None
    assert balance(owners.user(MALLORY.address), "CREDIT") == BOND
    assert not Round.objects.filter(appeal_of=dat.round).exists()


@pytest.mark.django_db
def test_a_challenged_dats_round_verdicts_are_sealed_until_the_challenge_is_decided(client):
    _idao, ps, dat = _minted()

    def dat_verdicts() -> str:
        return client.get(f"/dats/{dat.pk}/").content.decode().split('data-testid="verdicts"')[1].split("</table>")[0]

    def round_verdicts() -> str:
        return client.get(f"/rounds/{dat.round_id}/").content.decode()

    assert dat_verdicts().count("<td>approve") == 3 and round_verdicts().count('data-testid="verdict"') == 3
    _credit(MALLORY, BOND)
    challenge = challenge_file(dat_id=dat.pk, user=user_of(MALLORY), reason_code="licence", evidence="CC-BY-NC")
    sealed = client.get(f"/api/v1/rounds/{dat.round_id}").json()
    assert sealed["verdicts_sealed"] is True and sealed["verdicts"] == []
    bundle = client.get(f"/rounds/{dat.round_id}/bundle.json")
    assert bundle.status_code == 409 and bundle.json()["error"] == "verdicts_sealed"
    assert "approve" not in dat_verdicts() and 'data-testid="verdicts-sealed"' in dat_verdicts()
    page = round_verdicts()
    assert 'data-testid="verdict"' not in page and 'data-testid="verdicts-sealed"' in page

    _decide(challenge.panel_round, ps, "approve")
    shown = client.get(f"/api/v1/rounds/{dat.round_id}").json()
    assert shown["verdicts_sealed"] is False and len(shown["verdicts"]) == 3
    assert client.get(f"/rounds/{dat.round_id}/bundle.json").json().get("error") != "verdicts_sealed"
    assert dat_verdicts().count("<td>approve") == 3 and round_verdicts().count('data-testid="verdict"') == 3
