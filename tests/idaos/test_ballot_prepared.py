"""The vote's one statement, idaos_cast_ballot(), as a named prepared statement (portal.prepared):
planned once per connection on PostgreSQL, no other statement prepared, the same answers as the
unprepared call, still working after a rollback, and off when settings turn it off (PgBouncer in
transaction mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.db import connection, transaction
from django.test import override_settings

from idaos.models import Ballot
from idaos.services import ballots
from tests.idaos.conftest import ballot, make_idao, make_proposal
from tests.personas import BOB, CAROL, DAVE

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"),
]


def _prepared() -> list[tuple[str, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name")
        return cursor.fetchall()


def _cast(persona, proposal, choice: str = "for", ts: int | None = None) -> Ballot:
    body = ballot(persona, proposal, choice, ts=ts)
    return ballots.ballot_cast(proposal_id=proposal.pk, message=body["message"], signature=body["signature"], user=None)


@pytest.fixture
def fresh_session():
    connection.close()  # a new server session: nothing prepared yet
    yield
    connection.close()


def test_the_ballot_call_is_prepared_once_per_connection_and_no_other_statement_is(fresh_session):
    proposal = make_proposal(make_idao(members=[BOB, CAROL, DAVE]))
    assert _prepared() == []
    for persona in (BOB, CAROL, DAVE):
        _cast(persona, proposal)
    statements = _prepared()
    assert len(statements) == 1
    statement, generic, custom = statements[0]
    assert "FROM idaos_cast_ballot($1," in statement
    assert generic + custom == 3  # one statement, run three times
    assert Ballot.objects.filter(proposal=proposal, counted=True).count() == 3


@override_settings(PORTAL_PREPARED_STATEMENTS=False)
def test_with_prepared_statements_off_nothing_is_prepared_and_ballots_still_record(fresh_session):
    proposal = make_proposal(make_idao(members=[BOB]))
    recorded = _cast(BOB, proposal)
    assert _prepared() == []
    assert Ballot.objects.get(pk=recorded.pk).counted


def test_prepared_and_unprepared_calls_give_the_same_answers_and_rows(fresh_session):
    idao = make_idao(members=[BOB, CAROL])
    proposals = {prepared: make_proposal(idao, title=f"prepared={prepared}") for prepared in (True, False)}
    ts = int(time.time())  # after both windows opened: the same timestamps are valid in both
    answers = {}
    for prepared, proposal in proposals.items():
        with override_settings(PORTAL_PREPARED_STATEMENTS=prepared):
            first = _cast(BOB, proposal, "for", ts)
            later = _cast(BOB, proposal, "against", ts + 1)  # replaces the first
            with pytest.raises(ballots.Superseded):
                _cast(BOB, proposal, "abstain", ts)
            other = _cast(CAROL, proposal, "for", ts)
        answers[prepared] = [
            (b.voter, b.choice, b.timestamp, int(b.weight), b.counted, b.verified_by, b.verified_chain_id)
            for b in (first, later, other)
        ] + [
            (b.voter, b.choice, b.timestamp, int(b.weight), b.counted, b.verified_by, b.verified_chain_id)
            for b in Ballot.objects.filter(proposal=proposal).order_by("pk")
        ]
    assert answers[True] == answers[False]


def test_a_ballot_records_after_a_rolled_back_transaction_on_the_same_connection(fresh_session):
    proposal = make_proposal(make_idao(members=[BOB, CAROL]))
    _cast(BOB, proposal)  # prepared on this connection

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        _cast(CAROL, proposal)
        raise Undo  # psycopg forgets its prepared names on rollback, and prepares again
    assert not Ballot.objects.filter(proposal=proposal, voter=CAROL.address).exists()
    _cast(CAROL, proposal)
    assert Ballot.objects.filter(proposal=proposal, counted=True).count() == 2
    assert len(_prepared()) == 1


def test_prepared_statements_are_off_by_default_behind_pgbouncer():
    code = "from django.conf import settings; print(settings.PORTAL_PREPARED_STATEMENTS)"
    pgbouncer = {"DISABLE_SERVER_SIDE_CURSORS": "true"}
    answers = []
    for extra in ({}, pgbouncer, {**pgbouncer, "PORTAL_PREPARED_STATEMENTS": "true"}):
        out = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", **extra},
            capture_output=True,
            text=True,
            check=True,
        )
        answers.append(out.stdout.strip())
    assert answers == ["True", "False", "True"]
