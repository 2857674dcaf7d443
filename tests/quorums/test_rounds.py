from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from eth_account import Account
from eth_account.messages import encode_typed_data

from ledger import owners
from ledger.selectors import balance
from quorums import services
from quorums.eip712 import verdict_typed_data
from quorums.errors import BadSignature, NotInCommittee, RoundClosed, WrongRound
from quorums.models import Equivocation, Round, Slash, Validator
from tests.personas import MALLORY
from tests.quorums.factories import PROBE as SUBJECT_KIND
from tests.quorums.factories import setup_network, signed

HASH = "0x" + "ab" * 32


def open_round(idao, ref: str = "1", content_hash: str = HASH) -> Round:
    r = services.round_open(idao_id=idao.pk, subject_kind=SUBJECT_KIND, subject_ref=ref, content_hash=content_hash)
    assert r is not None
    return r


def submit(p, r, verdict="approve", reason="", **override):
    body = signed(p, r, verdict, reason, **override)
    return services.verdict_submit(round_id=r.pk, **body)


def make_overdue(r: Round) -> None:
    Round.objects.filter(pk=r.pk).update(deadline=r.opened_at - timedelta(seconds=1))


@pytest.mark.django_db
def test_round_records_the_seed_and_a_rederivable_committee():
    from quorums.consensus import draw_committee

    idao, _quorum, _personas = setup_network(5, committee_size=3)
    r = open_round(idao)
    seats = sorted(r.seats.values_list("validator_id", flat=True))
    again = draw_committee(bytes.fromhex(r.seed[2:]), [tuple(c) for c in r.candidates], 3)
    assert sorted(again) == seats and len(seats) == 3


@pytest.mark.django_db
def test_threshold_closes_round_as_accepted_and_anchors_it():
    idao, _quorum, ps = setup_network(3)
    r = open_round(idao)
    for p in ps[:2]:
        submit(p, r)
    assert services.round_close(round_id=r.pk).state == "open"  # 2/3 stake < 6667 bps
    submit(ps[2], r)
    closed = services.round_close(round_id=r.pk)
    assert (closed.state, closed.outcome, closed.close_reason) == ("closed", "accepted", "threshold")
    assert closed.anchor_leaf_id and closed.verdicts_digest.startswith("0x")
    assert not Slash.objects.filter(round=r).exists()


@pytest.mark.django_db
def test_verdict_from_a_key_outside_the_committee_is_rejected():
    idao, _quorum, _ps = setup_network(3)
    r = open_round(idao)
    with pytest.raises(NotInCommittee) as err:
        submit(MALLORY, r)
    assert err.value.status == 403 and "not on the committee" in err.value.detail


@pytest.mark.django_db
def test_verdict_signed_for_another_rounds_digest_is_rejected():
    idao, _quorum, ps = setup_network(3)
    r1 = open_round(idao, "1")
    r2 = open_round(idao, "2", "0x" + "cd" * 32)
    body = signed(ps[0], r1)
    with pytest.raises(WrongRound):
        services.verdict_submit(round_id=r2.pk, **body)
    # Same round number but a forged content hash in the message: also the wrong digest.
    with pytest.raises(WrongRound):
        services.verdict_submit(
            round_id=r1.pk, message={**body["message"], "contentHash": "0x" + "cd" * 32}, signature=body["signature"]
        )


@pytest.mark.django_db
def test_signature_by_someone_else_than_the_named_validator_is_rejected():
    idao, _quorum, ps = setup_network(3)
    r = open_round(idao)
    typed = verdict_typed_data(
        validator=ps[0].address, round_id=r.pk, content_hash=r.content_hash, verdict="approve", reason=""
    )
    with pytest.raises(BadSignature):
        services.verdict_submit(round_id=r.pk, message=typed["message"], signature=MALLORY.sign_typed(typed))


@pytest.mark.django_db
def test_verdict_after_close_is_rejected():
    idao, _quorum, ps = setup_network(3)
    r = open_round(idao)
    for p in ps:
        submit(p, r)
    services.round_close(round_id=r.pk)
    with pytest.raises(RoundClosed):
        submit(ps[0], r, "reject", "late change of mind")


@pytest.mark.django_db
def test_verdict_after_the_deadline_by_database_time_is_rejected():
    idao, _quorum, ps = setup_network(3)
    r = open_round(idao)
    make_overdue(r)
    with pytest.raises(RoundClosed):
        submit(ps[0], r)


@pytest.mark.django_db
def test_resubmitting_the_same_signed_verdict_is_a_no_op():
    idao, _quorum, ps = setup_network(3)
    r = open_round(idao)
    body = signed(ps[0], r)
    first = services.verdict_submit(round_id=r.pk, **body)
    again = services.verdict_submit(round_id=r.pk, **body)
    assert again.duplicate and again.verdict.pk == first.verdict.pk
    assert not Equivocation.objects.exists()


@pytest.mark.django_db
def test_equivocation_slashes_and_jails_exactly_once_even_if_close_runs_twice():
    idao, quorum, ps = setup_network(4, committee_size=4)
    r = open_round(idao)
    submit(ps[0], r, "approve")
    result = submit(ps[0], r, "reject", "changed my mind")
    assert result.equivocation is not None
    for p in ps[1:]:
        submit(p, r)
    treasury_before = balance(idao.treasury_owner, "LAZ")
    services.round_close(round_id=r.pk)
    services.round_close(round_id=r.pk)
    services.round_close(round_id=r.pk, force=True)
    slashes = Slash.objects.filter(round=r)
    assert [(s.reason, int(s.amount)) for s in slashes] == [("equivocation", 500)]
    equivocator = Validator.objects.get(address=ps[0].address)
    assert equivocator.state == "jailed" and int(equivocator.stake) == 500
    assert balance(idao.treasury_owner, "LAZ") - treasury_before == 500
    assert balance(owners.escrow(quorum.pk), "LAZ") == 3500


@pytest.mark.django_db
def test_equivocation_evidence_verifies_offline_with_a_plain_eip712_library():
    idao, _quorum, ps = setup_network(3)
    r = open_round(idao)
    submit(ps[0], r, "approve")
    submit(ps[0], r, "reject", "second thoughts")
    ev = Equivocation.objects.get()
    recovered = set()
    for v in (ev.first, ev.second):
        typed = verdict_typed_data(
            validator=ps[0].address, round_id=r.pk, content_hash=r.content_hash, verdict=v.verdict, reason=v.reason
        )
        recovered.add(Account.recover_message(encode_typed_data(full_message=typed), signature=v.signature))
    assert recovered == {ps[0].address} and ev.first.digest != ev.second.digest


@pytest.mark.django_db
def test_minority_and_absence_are_slashed_at_their_rates():
    idao, _quorum, ps = setup_network(4, committee_size=4, threshold_bps=6000, min_participation_bps=5000)
    r = open_round(idao)
    submit(ps[0], r, "approve")
    submit(ps[1], r, "approve")
    submit(ps[2], r, "reject", "looks wrong")
    make_overdue(r)
    closed = services.round_close(round_id=r.pk)
    # 2/4 approve < 60%: inconclusive, so no minority; ps[3] was absent at the deadline.
    assert closed.outcome == "inconclusive"
    assert [(s.validator.address, s.reason, int(s.amount)) for s in Slash.objects.filter(round=r)] == [
        (ps[3].address, "absence", 20)
    ]


@pytest.mark.django_db
def test_decisive_outcome_at_the_deadline_slashes_the_minority_and_the_absent():
    idao, _quorum, ps = setup_network(5, committee_size=5, threshold_bps=6000)
    r = open_round(idao)
    for p in ps[:3]:
        submit(p, r, "approve")
    submit(ps[3], r, "reject", "bad labels")
    make_overdue(r)
    closed = services.round_close(round_id=r.pk)
    assert (closed.outcome, closed.close_reason) == ("accepted", "deadline")
    assert sorted((s.validator.address, s.reason, int(s.amount)) for s in Slash.objects.filter(round=r)) == sorted(
        [(ps[3].address, "minority", 100), (ps[4].address, "absence", 20)]
    )


@pytest.mark.django_db
def test_early_close_at_threshold_does_not_slash_members_who_had_time_left():
    idao, _quorum, ps = setup_network(4, committee_size=4, threshold_bps=6000)
    r = open_round(idao)
    submit(ps[0], r, "approve")
    submit(ps[1], r, "approve")
    submit(ps[2], r, "reject", "bad labels")
    submit(ps[3], r, "approve")
    closed = services.round_close(round_id=r.pk)
    assert (closed.outcome, closed.close_reason) == ("accepted", "threshold")
    assert [(s.validator.address, s.reason, int(s.amount)) for s in Slash.objects.filter(round=r)] == [
        (ps[2].address, "minority", 100)
    ]


@pytest.mark.django_db
def test_paused_quorum_receives_no_new_rounds(django_user_model):
    idao, quorum, _ps = setup_network(3)
    staff = django_user_model.objects.create_user("0x" + "5" * 40, is_staff=True)
    services.quorum_set_paused(actor=staff, quorum_id=quorum.pk, paused=True, reason="incident review")
    assert services.round_open(idao_id=idao.pk, subject_kind=SUBJECT_KIND, subject_ref="9", content_hash=HASH) is None


@pytest.mark.django_db
def test_vsc_prefers_the_trusted_quorum_with_fewest_open_rounds():
    from quorums.models import QuorumTrust
    from tests.personas import many
    from tests.quorums.factories import QuorumFactory, bonded

    idao, _busy, _ = setup_network(3)
    open_round(idao, "1")
    idle = QuorumFactory(committee_size=1)
    QuorumTrust.objects.create(idao=idao, quorum=idle)
    bonded(idle, many(1, start=99_000)[0])
    r = open_round(idao, "2")
    assert r.quorum_id == idle.pk


@pytest.mark.django_db(transaction=True)
def test_last_two_verdicts_arriving_together_finalise_the_round_once():
    idao, _quorum, ps = setup_network(3)
    r = open_round(idao)
    submit(ps[0], r)
    barrier = threading.Barrier(2)
    errors: list = []

    def last(p):
        try:
            barrier.wait()
            submit(p, r)
            barrier.wait()
            services.round_close(round_id=r.pk)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=last, args=(p,)) for p in ps[1:]]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    r.refresh_from_db()
    from ledger.models import Leaf

    assert r.outcome == "accepted" and Leaf.objects.filter(subject__contains=f"round:{r.pk}").count() <= 1
    assert Round.objects.filter(pk=r.pk, state="closed").count() == 1


@pytest.mark.django_db
def test_open_verdict_and_close_take_a_bounded_number_of_queries(django_assert_max_num_queries):
    idao, _quorum, ps = setup_network(3)
    open_round(idao, "warm")
    # 9, plus the seed's inputs (a round id from the sequence, the latest sealed block) and the
    # anchored open record (two queries), and the "drawn onto a round" events (the seats' users and
    # one INSERT of the outbox rows).
    with django_assert_max_num_queries(15):
        r = open_round(idao, "q")
    for p in ps:
        with django_assert_max_num_queries(10):
            submit(p, r)
    with django_assert_max_num_queries(14):
        assert services.round_close(round_id=r.pk).outcome == "accepted"
