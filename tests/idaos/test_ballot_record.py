"""The two ways of recording a verified ballot agree: on PostgreSQL the SQL function
idaos_cast_ballot() (idaos/sql/idaos_cast_ballot.sql) is the implementation, and
`ballot_record_spec` is its readable specification and the SQLite path. Each case records the
same ballot on the same database state through both, each in a savepoint rolled back after, and
compares the answer and the ballots left behind."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from idaos import eip712
from idaos.migrations._cast_ballot import SQL_FILE
from idaos.models import Ballot, Proposal
from idaos.services import ballots
from idaos.services.membership import membership_join
from tests.idaos.conftest import ballot, make_idao, make_proposal, user_of
from tests.personas import BOB, CAROL

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def _record(record, proposal_id: int, verified: ballots.VerifiedBallot, now):
    """The record function's answer and the ballots it leaves, then undo everything it wrote."""
    result = {}
    try:
        with transaction.atomic():
            code, ballot_id, weight, info = record(proposal_id=proposal_id, ballot=verified, now=now)
            result["answer"] = (code, ballot_id is not None, None if weight is None else int(weight), info)
            result["ballots"] = sorted(
                (
                    b.voter,
                    b.choice,
                    b.timestamp,
                    int(b.weight),
                    b.counted,
                    b.digest,
                    b.signature,
                    b.verified_by,
                    b.verified_chain_id,
                    b.verified_block,
                )
                for b in Ballot.objects.filter(proposal_id=proposal_id)
            )
            raise _Rollback
    except _Rollback:
        pass
    return result


def _verified(body) -> ballots.VerifiedBallot:
    return ballots.verify(body["message"], body["signature"])


def _cast(proposal, choice: str, ts: int) -> dict:
    body = ballot(BOB, proposal, choice, ts=ts)
    ballots.ballot_cast(proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=None)
    return body


def valid(proposal, now, ts):
    return proposal.pk, _verified(ballot(BOB, proposal, "for", ts=ts)), now


def replaces_an_earlier_ballot(proposal, now, ts):
    _cast(proposal, "for", ts)
    return proposal.pk, _verified(ballot(BOB, proposal, "against", ts=ts + 1)), now


def superseded_by_a_later_ballot(proposal, now, ts):
    _cast(proposal, "for", ts + 2)
    return proposal.pk, _verified(ballot(BOB, proposal, "against", ts=ts + 1)), now


def same_timestamp_as_the_counted_ballot(proposal, now, ts):
    _cast(proposal, "for", ts)
    return proposal.pk, _verified(ballot(BOB, proposal, "against", ts=ts)), now


def duplicate_of_a_received_ballot(proposal, now, ts):
    body = _cast(proposal, "for", ts)
    return proposal.pk, _verified(body), now


def duplicate_of_a_replaced_ballot(proposal, now, ts):
    body = _cast(proposal, "for", ts)
    _cast(proposal, "against", ts + 1)
    return proposal.pk, _verified(body), now


def not_eligible_joined_after_voting_opened(proposal, now, ts):
    membership_join(idao=proposal.idao, user=user_of(CAROL))
    return proposal.pk, _verified(ballot(CAROL, proposal, "for", ts=ts)), now


def not_a_member(proposal, now, ts):
    return proposal.pk, _verified(ballot(CAROL, proposal, "for", ts=ts)), now


def closed_after_the_deadline(proposal, now, ts):
    return proposal.pk, _verified(ballot(BOB, proposal, "for", ts=ts)), proposal.voting_ends_at + timedelta(seconds=1)


def closed_by_the_tally(proposal, now, ts):
    Proposal.objects.filter(pk=proposal.pk).update(state="passed")
    return proposal.pk, _verified(ballot(BOB, proposal, "for", ts=ts)), now


def not_open_yet_pending(proposal, now, ts):
    Proposal.objects.filter(pk=proposal.pk).update(state="pending")
    return proposal.pk, _verified(ballot(BOB, proposal, "for", ts=ts)), now


def not_open_yet_before_the_start(proposal, now, ts):
    return proposal.pk, _verified(ballot(BOB, proposal, "for", ts=ts)), proposal.voting_starts_at - timedelta(seconds=1)


def timestamp_before_the_window(proposal, now, ts):
    return proposal.pk, _verified(ballot(BOB, proposal, "for", ts=ts - 3600)), now


def timestamp_after_the_window(proposal, now, ts):
    end = int(proposal.voting_ends_at.timestamp())
    return proposal.pk, _verified(ballot(BOB, proposal, "for", ts=end + 1)), now


def signed_for_another_idao(proposal, now, ts):
    return proposal.pk, _verified(ballot(BOB, proposal, "for", ts=ts, idao="another-idao")), now


def signed_for_another_proposal_is_checked_before_recording(proposal, now, ts):
    other = make_proposal(proposal.idao, title="Another")
    body = ballot(BOB, other, "for", ts=ts)
    return proposal.pk, _verified(body), now


def recorded_on_a_proposal_without_this_voter(proposal, now, ts):
    other_idao = make_idao(slug="other-idao")
    other = make_proposal(other_idao, title="Elsewhere")
    body = ballot(BOB, proposal, "for", ts=ts, idao="other-idao")
    return other.pk, _verified(body), timezone.now()


def _pending(verified: ballots.VerifiedBallot) -> ballots.VerifiedBallot:
    """The same ballot as a Safe's on-chain approval not seen yet (signature 0x, pending)."""
    return replace(verified, signature="0x", verified_by=ballots.PENDING, chain_id=1, block_number=None)


def pending_is_recorded_uncounted(proposal, now, ts):
    return proposal.pk, _pending(_verified(ballot(BOB, proposal, "for", ts=ts))), now


def pending_leaves_the_counted_ballot_counted(proposal, now, ts):
    _cast(proposal, "for", ts)
    return proposal.pk, _pending(_verified(ballot(BOB, proposal, "against", ts=ts + 1))), now


def pending_not_later_than_the_counted_ballot_is_superseded(proposal, now, ts):
    _cast(proposal, "for", ts + 2)
    return proposal.pk, _pending(_verified(ballot(BOB, proposal, "against", ts=ts + 1))), now


def contract_wallet_verification_is_recorded(proposal, now, ts):
    verified = _verified(ballot(BOB, proposal, "for", ts=ts))
    return proposal.pk, replace(verified, verified_by="erc1271", chain_id=1, block_number=12345), now


def _option_ballot(proposal, options, ts):
    message = {
        "voter": BOB.address,
        "idao": proposal.idao.slug,
        "proposal": proposal.pk,
        "options": options,
        "reason": "",
        "timestamp": ts,
    }
    return _verified({"message": message, "signature": BOB.sign_typed(eip712.typed_data(message))})


def _option_signal(proposal):
    return make_proposal(proposal.idao, payload={"options": ["A", "B", "C"], "method": "ranked"})


def option_ballot_on_a_signal_with_options(proposal, now, ts):
    signal = _option_signal(proposal)  # opened after `now`
    return signal.pk, _option_ballot(signal, [2, 0], ts), timezone.now()


def ballot_on_a_signal_with_options(proposal, now, ts):
    signal = _option_signal(proposal)
    return signal.pk, _verified(ballot(BOB, signal, "for", ts=ts)), timezone.now()


def option_ballot_on_a_for_against_proposal(proposal, now, ts):
    return proposal.pk, _option_ballot(proposal, [0], ts), now


def no_such_proposal(proposal, now, ts):
    return proposal.pk + 10_000, _verified(ballot(BOB, proposal, "for", ts=ts)), now


CASES = [
    (valid, "ok"),
    (replaces_an_earlier_ballot, "ok"),
    (superseded_by_a_later_ballot, "superseded"),
    (same_timestamp_as_the_counted_ballot, "superseded"),
    (duplicate_of_a_received_ballot, "duplicate_ballot"),
    (duplicate_of_a_replaced_ballot, "duplicate_ballot"),
    (not_eligible_joined_after_voting_opened, "no_voting_power"),
    (not_a_member, "no_voting_power"),
    (closed_after_the_deadline, "voting_closed"),
    (closed_by_the_tally, "voting_closed"),
    (not_open_yet_pending, "voting_not_open"),
    (not_open_yet_before_the_start, "voting_not_open"),
    (timestamp_before_the_window, "timestamp_outside_window"),
    (timestamp_after_the_window, "timestamp_outside_window"),
    (signed_for_another_idao, "wrong_idao"),
    (signed_for_another_proposal_is_checked_before_recording, "ok"),
    (recorded_on_a_proposal_without_this_voter, "no_voting_power"),
    (no_such_proposal, "not_found"),
    (pending_is_recorded_uncounted, "ok"),
    (pending_leaves_the_counted_ballot_counted, "ok"),
    (pending_not_later_than_the_counted_ballot_is_superseded, "superseded"),
    (contract_wallet_verification_is_recorded, "ok"),
    (option_ballot_on_a_signal_with_options, "ok"),
    (ballot_on_a_signal_with_options, "wrong_ballot_type"),
    (option_ballot_on_a_for_against_proposal, "wrong_ballot_type"),
]


@pytest.mark.parametrize(("case", "expected"), CASES, ids=[case.__name__ for case, _ in CASES])
def test_the_sql_function_and_the_python_spec_record_ballots_alike(case, expected):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao)
    proposal.refresh_from_db()
    now, ts = timezone.now(), int(time.time())
    proposal_id, verified, at = case(proposal, now, ts)
    by_sql = _record(ballots.ballot_record_sql, proposal_id, verified, at)
    by_spec = _record(ballots.ballot_record_spec, proposal_id, verified, at)
    assert by_sql == by_spec
    assert by_sql["answer"][0] == expected


def test_the_migrated_database_runs_the_function_in_the_sql_file():
    body = SQL_FILE.read_text().split("$$")[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'idaos_cast_ballot'")
        assert [row[0] for row in cursor.fetchall()] == [body]
