"""Slashes nobody can dodge: unbonding stake stays slashable until released, a seat's committed
stake is what its verdict risked, and a jailed validator's unbonds are frozen."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from ledger import owners
from ledger.selectors import balance
from quorums import services
from quorums.models import Bond, FraudCase, Round, Slash, Validator, ValidatorState
from tests.personas import DAVE
from tests.quorums.factories import PROBE, setup_network, signed, user_of

_refs = iter(range(10_000, 99_999))


def _round(idao) -> Round:
    return services.round_open(
        idao_id=idao.pk, subject_kind=PROBE, subject_ref=str(next(_refs)), content_hash="0x" + "ab" * 32
    )


def _staff():
    u = user_of(DAVE)
    u.is_staff = True
    u.save()
    return u


@pytest.mark.django_db
def test_equivocating_then_unbonding_everything_is_slashed_at_the_full_equivocation_rate():
    idao, quorum, ps = setup_network(3, threshold_bps=6000, unbond_delay=timedelta(0))
    r = _round(idao)
    cheat = ps[0]
    services.verdict_submit(round_id=r.pk, **signed(cheat, r, "approve"))
    services.verdict_submit(round_id=r.pk, **signed(cheat, r, "reject", "changed my mind"))
    unbond = services.validator_unbond(quorum_id=quorum.pk, user=user_of(cheat), amount=1000)
    v = Validator.objects.get(quorum=quorum, address=cheat.address)
    assert int(v.stake) == 0  # nothing bonded left: the old rule slashed 0
    for p in ps[1:]:
        services.verdict_submit(round_id=r.pk, **signed(p, r))
    services.round_close(round_id=r.pk)
    slash = Slash.objects.get(validator=v, reason="equivocation")
    assert int(slash.amount) == 1000 * quorum.slash_equivocation_bps // 10_000 == 500
    unbond.refresh_from_db()
    assert int(unbond.slashed) == 500
    v.refresh_from_db()
    assert v.state == ValidatorState.JAILED
    assert services.unbonds_release_due() == 0  # matured, but jailed: frozen
    services.validator_set_state(actor=_staff(), validator_id=v.pk, state="active", reason="served the penalty")
    before = balance(owners.user(cheat.address), "LAZ")
    assert services.unbonds_release_due() == 1
    assert balance(owners.user(cheat.address), "LAZ") == before + 500  # only what the slash left
    assert balance(owners.escrow(quorum.pk), "LAZ") == 2000


@pytest.mark.django_db
def test_slashes_take_bonded_stake_first_then_pending_unbonds_newest_first():
    idao, quorum, ps = setup_network(3, threshold_bps=6000, unbond_delay=timedelta(days=1), slash_equivocation_bps=8000)
    r = _round(idao)
    cheat = ps[0]
    services.verdict_submit(round_id=r.pk, **signed(cheat, r, "approve"))
    services.verdict_submit(round_id=r.pk, **signed(cheat, r, "reject", "again"))
    older = services.validator_unbond(quorum_id=quorum.pk, user=user_of(cheat), amount=300)
    newer = services.validator_unbond(quorum_id=quorum.pk, user=user_of(cheat), amount=400)
    for p in ps[1:]:
        services.verdict_submit(round_id=r.pk, **signed(p, r))
    services.round_close(round_id=r.pk)
    v = Validator.objects.get(quorum=quorum, address=cheat.address)
    older.refresh_from_db()
    newer.refresh_from_db()
    # 800 at risk: the 300 still bonded, then 400 of the newer unbond, then 100 of the older.
    assert (int(v.stake), int(newer.slashed), int(older.slashed)) == (0, 400, 100)


@pytest.mark.django_db
def test_a_jailed_validators_matured_unbond_is_not_released_nor_one_with_an_open_fraud_case():
    _idao, quorum, ps = setup_network(3, threshold_bps=6000, unbond_delay=timedelta(0))
    staff = _staff()
    jailed = Validator.objects.get(quorum=quorum, address=ps[0].address)
    services.validator_unbond(quorum_id=quorum.pk, user=user_of(ps[0]), amount=500)
    services.validator_set_state(actor=staff, validator_id=jailed.pk, state="jailed", reason="under review")
    accused = Validator.objects.get(quorum=quorum, address=ps[1].address)
    services.validator_unbond(quorum_id=quorum.pk, user=user_of(ps[1]), amount=500)
    case = services.fraud_case_open(actor=staff, validator_id=accused.pk, allegation="copied verdicts")
    assert services.unbonds_release_due() == 0
    assert Bond.objects.filter(kind="unbond", released_at__isnull=True).count() == 2
    services.fraud_case_decide(actor=staff, case_id=case.pk, slash=True, reason="proven", rate_bps=1000)
    assert FraudCase.objects.get(pk=case.pk).state == "slashed"
    # The case took 10 % of bonded + pending (1000): 100, from the 500 still bonded.
    accused.refresh_from_db()
    assert int(accused.stake) == 400
    assert services.unbonds_release_due() == 1  # the decided case unfreezes; the jailed one stays
    assert Bond.objects.filter(validator=jailed, kind="unbond", released_at__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_unbond_and_close_leave_exactly_one_outcome():
    idao, quorum, ps = setup_network(3, threshold_bps=6000, unbond_delay=timedelta(days=1))
    r = _round(idao)
    cheat = ps[0]
    services.verdict_submit(round_id=r.pk, **signed(cheat, r, "approve"))
    services.verdict_submit(round_id=r.pk, **signed(cheat, r, "reject", "both ways"))
    for p in ps[1:]:
        services.verdict_submit(round_id=r.pk, **signed(p, r))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(fn):
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: services.round_close(round_id=r.pk),)),
        threading.Thread(
            target=run,
            args=(lambda: services.validator_unbond(quorum_id=quorum.pk, user=user_of(cheat), amount=500),),
        ),
    ]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors
    v = Validator.objects.get(quorum=quorum, address=cheat.address)
    slash = Slash.objects.get(validator=v, round=r, reason="equivocation")
    assert int(slash.amount) == 500  # whichever ran first
    pending = Bond.objects.get(validator=v, kind="unbond")
    # Either the unbond came first (500 of it slashed) or the close did (the unbond took the 500 left).
    assert int(v.stake) == 0 and int(pending.amount) - int(pending.slashed) == 500
    assert balance(owners.escrow(quorum.pk), "LAZ") == 3000 - 500
    assert Round.objects.get(pk=r.pk).state == "closed"
