from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from idaos.models import IDAO, Membership
from portal.models import User
from tests.personas import many


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("address",)

    address = factory.Sequence(lambda n: many(1, start=50_000 + n)[0].address)


class IdaoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IDAO

    slug = factory.Sequence(lambda n: f"idao-{n}")
    name = factory.Sequence(lambda n: f"iDAO {n}")
    domain = "healthcare"
    created_by = factory.SubFactory(UserFactory)
    voting_period = timedelta(hours=1)
    voting_delay = timedelta(0)
    quorum_bps = 0


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    idao = factory.SubFactory(IdaoFactory)
    user = factory.SubFactory(UserFactory)
    status = "active"
    joined_at = factory.LazyFunction(timezone.now)
