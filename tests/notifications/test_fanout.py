"""The outbox and the fan-out through a real worker: every kind reaches its recipients once per
enabled channel even when the fan-out task is delivered twice; a rolled-back emit sends nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from idaos.models import Proposal
from idaos.services import membership as membership_services
from notifications import kinds, services
from notifications.models import EmailAddress, Notification, Preference, Webhook, WebhookDelivery
from notifications.tasks import fanout, reminders_send
from portal.events import emit
from portal.models import Event
from tests.celery_helpers import queued, wait_for
from tests.factories import user_of
from tests.idaos.conftest import make_idao, make_proposal
from tests.personas import ALICE, BOB, CAROL

KINDS = [k for k in kinds.KINDS if k != "webhook.test"]


def verified(user, *, digest="instant") -> EmailAddress:
    return EmailAddress.objects.create(
        user=user, address=f"{user.address[:10].lower()}@example.org", verified_at=timezone.now(), digest=digest
    )


@pytest.mark.django_db(transaction=True)
def test_each_event_kind_reaches_its_recipients_once_per_enabled_channel_even_when_fanout_runs_twice(
    worker, receiver, private_targets
):
    idao = make_idao(members=[BOB])  # ALICE founds it (steward), BOB is a member
    alice, bob, carol = user_of(ALICE), user_of(BOB), user_of(CAROL)
    for user in (alice, bob):
        verified(user)
    Webhook.objects.create(owner=bob, url=receiver.url, secret="s1")
    receiver.secret = "s1"
    Preference.objects.create(user=alice, kind="proposal.passed", channel="email", enabled=False)
    events = []
    with transaction.atomic():
        for kind in KINDS:
            named = None if kind in kinds.MEMBER_KINDS | kinds.STEWARD_KINDS else [bob, carol]
            events.append(emit(kind=kind, idao=idao, subject="proposal:1", payload={"title": kind}, recipients=named))
    for event in events:  # the broker delivers every fan-out a second time
        fanout.delay([event.pk])

    expected_inapp = Counter()
    for event in events:
        for uid in kinds.resolve_recipients(event):
            expected_inapp[(event.pk, uid)] += 1
    wait_for(lambda: Event.objects.filter(pk__in=[e.pk for e in events], fanned_out_at__isnull=True).count() == 0)
    bob_hook_events = len([e for e in events if bob.pk in kinds.resolve_recipients(e)])
    wait_for(lambda: len(receiver.requests) >= bob_hook_events)
    wait_for(lambda: not Notification.objects.filter(channel="email", status="pending").exists())

    inapp = Counter(Notification.objects.filter(channel="inapp").values_list("event_id", "recipient_id"))
    assert inapp == expected_inapp and set(inapp.values()) == {1}
    for event in events:
        if event.kind.startswith("membership.requested"):
            assert set(kinds.resolve_recipients(event)) == {alice.pk}  # stewards only
        elif event.kind in kinds.MEMBER_KINDS:
            assert set(kinds.resolve_recipients(event)) == {alice.pk, bob.pk}
        else:
            assert set(kinds.resolve_recipients(event)) == {bob.pk, carol.pk}
    # email: verified recipients only, once each, and not where a preference switched it off
    sent = Counter((m.to[0], m.subject) for m in mail.outbox)
    assert set(sent.values()) == {1}
    expected_email = sum(
        1
        for e in events
        for uid in kinds.resolve_recipients(e)
        if uid in (alice.pk, bob.pk) and not (uid == alice.pk and e.kind == "proposal.passed")
    )
    assert len(mail.outbox) == expected_email
    assert not Notification.objects.filter(recipient=carol, channel="email").exists()  # carol has no address
    # webhook: bob's hook got each of bob's events once, signed
    assert Counter(receiver.kinds()) == Counter(e.kind for e in events if bob.pk in kinds.resolve_recipients(e))
    assert all(r["verified"] for r in receiver.requests)
    assert WebhookDelivery.objects.filter(status="succeeded").count() == bob_hook_events


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_emits_nothing(broker):
    bob = user_of(BOB)
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(kind="payout.received", subject="epoch:1", payload={"title": "1 LAZ"}, recipients=[bob])
        raise RuntimeError("the service failed after emitting")
    assert not Event.objects.exists()
    assert queued(broker) == 0 and broker.llen("notifications") == 0


@pytest.mark.django_db(transaction=True)
def test_a_committed_emit_enqueues_one_fanout_after_commit(broker):
    bob = user_of(BOB)
    with transaction.atomic():
        emit(kind="payout.received", subject="epoch:1", payload={"title": "1 LAZ"}, recipients=[bob])
        assert broker.llen("notifications") == 0  # nothing leaves before commit
    assert broker.llen("notifications") == 1 and queued(broker) == 0


@pytest.mark.django_db(transaction=True)
def test_proposal_and_membership_services_emit_to_members_and_stewards(worker):
    idao = make_idao(members=[BOB])
    proposal = make_proposal(idao, title="Buy GPUs")
    wait_for(lambda: Notification.objects.filter(recipient=user_of(BOB), event__kind="proposal.voting_opened").exists())
    assert Event.objects.filter(subject=f"proposal:{proposal.pk}").values_list("kind", flat=True).count() == 2
    link = kinds.link(Event.objects.get(kind="proposal.voting_opened"))
    assert link == f"/proposals/{proposal.pk}"
    # closing the proposal tells members it passed and was executed
    from idaos.services.proposals import proposal_close

    proposal_close(proposal_id=proposal.pk, now=proposal.voting_ends_at + timedelta(seconds=1))
    wait_for(
        lambda: Notification.objects.filter(
            recipient=user_of(BOB), event__kind__in=["proposal.rejected", "proposal.passed"]
        ).exists()
    )


@pytest.mark.django_db(transaction=True)
def test_membership_request_goes_to_stewards_and_the_decision_to_the_applicant(worker):
    from idaos.models import Membership

    idao = make_idao(slug="closed-lab", membership_policy="approval")
    request = membership_services.membership_join(idao=idao, user=user_of(CAROL))
    wait_for(lambda: Notification.objects.filter(recipient=user_of(ALICE), event__kind="membership.requested").exists())
    membership_services.membership_decide(idao=idao, steward=user_of(ALICE), membership_id=request.pk, approve=True)
    wait_for(lambda: Notification.objects.filter(recipient=user_of(CAROL), event__kind="membership.approved").exists())
    assert not Notification.objects.filter(recipient=user_of(CAROL), event__kind="membership.requested").exists()
    assert Membership.objects.get(pk=request.pk).status == "active"


@pytest.mark.django_db(transaction=True)
def test_closing_reminders_are_emitted_once_per_mark_when_beat_fires_twice(worker):
    idao = make_idao(members=[BOB])
    soon = make_proposal(idao, title="Closes within the hour")
    later = make_proposal(idao, title="Closes tomorrow", author=BOB)
    now = timezone.now()
    Proposal.objects.filter(pk=soon.pk).update(voting_ends_at=now + timedelta(minutes=30))
    Proposal.objects.filter(pk=later.pk).update(voting_ends_at=now + timedelta(hours=20))
    reminders_send.delay()
    reminders_send.delay()
    wait_for(lambda: Event.objects.filter(kind__startswith="proposal.closes").count() == 2)
    wait_for(lambda: Notification.objects.filter(event__kind__startswith="proposal.closes").count() == 4)
    assert services.proposals_remind() == 0
    assert set(Event.objects.filter(kind__startswith="proposal.closes").values_list("kind", "subject")) == {
        ("proposal.closes_1h", f"proposal:{soon.pk}"),
        ("proposal.closes_24h", f"proposal:{later.pk}"),
    }


@pytest.mark.django_db
def test_the_fanout_sql_writes_the_same_rows_as_the_readable_rule():
    idao = make_idao(members=[BOB, CAROL])
    alice, bob, carol = user_of(ALICE), user_of(BOB), user_of(CAROL)
    verified(bob)
    verified(carol, digest="daily")
    Preference.objects.create(user=carol, kind="proposal.voting_opened", channel="inapp", enabled=False)
    Preference.objects.create(user=bob, kind="proposal.voting_opened", channel="email", enabled=False)
    Webhook.objects.create(owner=bob, url="https://example.org/a", secret="x")
    Webhook.objects.create(owner=carol, url="https://example.org/b", secret="x", kinds=["payout.received"])
    Webhook.objects.create(owner=alice, idao=idao, url="https://example.org/c", secret="x")
    Webhook.objects.create(owner=alice, url="https://example.org/d", secret="x", active=False)

    def rows(event):
        notes = set(Notification.objects.filter(event=event).values_list("recipient_id", "channel", "status"))
        hooks = set(WebhookDelivery.objects.filter(event=event).values_list("webhook_id", flat=True))
        return notes, hooks

    for kind in ("proposal.voting_opened", "proposal.passed"):
        spec = emit(kind=kind, idao=idao, subject="proposal:9", payload={})
        fast = emit(kind=kind, idao=idao, subject="proposal:9", payload={})
        services.event_fanout(event_id=spec.pk, sql=False)
        services.event_fanout(event_id=fast.pk, sql=True)
        services.event_fanout(event_id=fast.pk, sql=True)  # twice: no more rows
        assert rows(spec) == rows(fast) and rows(fast)[0]
