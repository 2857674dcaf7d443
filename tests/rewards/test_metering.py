from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from idaos.models import Membership
from ledger import owners
from ledger import selectors as ledger_selectors
from portal.models import ApiToken
from rewards.models import UsageEvent, UsageReport

from .conftest import event
from .factories import MembershipFactory, UserFactory

URL = "/api/v1/usage"


def token_for(user, *, subject: str = "", revoked: bool = False, scopes=("usage:report",)) -> str:
    raw, prefix, key_hash = ApiToken.generate()
    ApiToken.objects.create(
        user=user,
        name="pipeline",
        subject=subject,
        prefix=prefix,
        key_hash=key_hash,
        scopes=list(scopes),
        revoked_at=timezone.now() if revoked else None,
    )
    return raw


def post(raw: str, body) -> tuple[int, dict]:
    response = Client().post(
        URL, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    return response.status_code, response.json()


def test_an_event_reported_twice_counts_once(world):
    raw = token_for(world.pipeline)
    e = event(world.model, 40, key="run-1")
    assert post(raw, e)[1]["accepted"] == 1
    status, body = post(raw, {"events": [e, e]})
    assert status == 200 and body["accepted"] == 0 and body["duplicates"] == 2
    assert UsageEvent.objects.filter(idempotency_key="run-1").count() == 1
    assert ledger_selectors.balance(owners.REWARD_POOL, "CREDIT") == 40  # charged once


def test_a_batch_of_ten_thousand_events_is_accepted_in_one_request(world):
    raw = token_for(world.pipeline)
    now = timezone.now().isoformat()
    events = [
        {
            "model_id": world.model.model_id,
            "version": 1,
            "kind": "inference",
            "units": 2,
            "occurred_at": now,
            "idempotency_key": f"b{i}",
        }
        for i in range(10_000)
    ]
    status, body = post(raw, {"events": events})
    assert status == 200, body
    assert body["accepted"] == 10_000 and body["fee_credit"] == "20000"
    assert UsageEvent.objects.count() == 10_000


def test_more_than_ten_thousand_events_are_refused(world):
    events = [event(world.model, 1) for _ in range(10_001)]
    status, body = post(token_for(world.pipeline), {"events": events})
    assert status == 422 and body["error"] == "batch_too_large"


@pytest.mark.parametrize(
    ("change", "code", "where"),
    [
        ({"units": -5}, "invalid_usage", "events[1].units"),
        ({"units": 0}, "invalid_usage", "events[1].units"),
        ({"units": 10**12}, "absurd_units", "events[1].units"),
        ({"units": 2.5}, "invalid_usage", "events[1].units"),
        ({"kind": "mining"}, "invalid_usage", "events[1].kind"),
        ({"occurred_at": (timezone.now() + timedelta(days=1)).isoformat()}, "event_in_future", "events[1].occurred_at"),
        ({"occurred_at": (timezone.now() - timedelta(days=30)).isoformat()}, "event_too_old", "events[1].occurred_at"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "invalid_usage", "events[1].occurred_at"),
        ({"version": 9}, "unknown_asset", "events[1]"),
        ({"model_id": 987654}, "unknown_asset", "events[1]"),
        ({"idempotency_key": ""}, "invalid_usage", "events[1].idempotency_key"),
    ],
)
def test_a_bad_event_is_refused_naming_its_index_and_nothing_is_recorded(world, change, code, where):
    bad = {**event(world.model, 1), **change}
    status, body = post(token_for(world.pipeline), {"events": [event(world.model, 1), bad]})
    assert status in (401, 403, 422), body
    assert body["error"] == code and body["detail"].startswith(where), body
    assert UsageEvent.objects.count() == 0 and UsageReport.objects.count() == 0


def test_a_revoked_token_is_named_as_revoked(world):
    status, body = post(token_for(world.pipeline, revoked=True), event(world.model, 1))
    assert status == 401 and body["error"] == "token_revoked"


def test_an_unknown_token_is_not_authenticated(world):
    status, body = post("idao_not-a-token", event(world.model, 1))
    assert status == 401 and body["error"] == "not_authenticated"


def test_outsiders_cannot_report_usage_of_an_idaos_models(world):
    status, body = post(token_for(UserFactory()), event(world.model, 1))
    assert status == 403 and body["error"] == "not_allowed_to_report" and body["detail"].startswith("events[0]")


def _steward_of(idao):
    return MembershipFactory(idao=idao, role="steward").user


def test_a_token_acting_for_an_idao_pays_fees_from_its_treasury(world):
    from .conftest import fund_credit

    fund_credit("idao:alpha", 500)
    raw = token_for(_steward_of(world.a), subject="idao:alpha")
    status, body = post(raw, event(world.model, 120))
    assert status == 200 and body["fee_credit"] == "120"
    assert ledger_selectors.balance("idao:alpha", "CREDIT") == 380
    status, body = post(raw, event(world.agent, 1))
    assert status == 403 and body["error"] == "not_allowed_to_report"  # the agent belongs to beta


def test_an_idao_token_stops_working_when_its_creator_is_no_longer_a_steward(world):
    steward = _steward_of(world.a)
    raw = token_for(steward, subject="idao:alpha")
    Membership.objects.filter(user=steward).update(role="member")
    status, body = post(raw, event(world.model, 1))
    assert status == 403 and body["error"] == "token_subject_forbidden"


def test_a_token_without_the_usage_scope_is_refused(world):
    status, body = post(token_for(world.pipeline, scopes=("dats:access",)), event(world.model, 1))
    assert status == 403 and body["error"] == "insufficient_scope"


def test_a_report_the_payer_cannot_afford_records_nothing(world):
    status, body = post(token_for(_steward_of(world.b), subject="idao:beta"), event(world.agent, 10))
    assert status == 409 and body["error"] == "insufficient_funds"
    assert UsageEvent.objects.count() == 0


def test_a_body_that_is_not_json_is_refused(world):
    response = Client().post(
        URL, data="{oops", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token_for(world.pipeline)}"
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_json"


def test_the_database_refuses_an_event_whose_reporter_or_epoch_is_not_its_reports(world):
    from django.db import IntegrityError, connection, transaction

    raw = token_for(world.pipeline)
    assert post(raw, event(world.model, 3, key="own"))[0] == 200
    stored = UsageEvent.objects.get(idempotency_key="own")
    other = UserFactory()
    for change in ({"reporter_id": other.pk}, {"epoch_id": stored.epoch_id + 10_000}):
        with pytest.raises(IntegrityError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            UsageEvent.objects.filter(pk=stored.pk).update(**change)
