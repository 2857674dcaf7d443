"""Factories and builders every app's tests share: people, iDAOs and memberships."""

from __future__ import annotations

import factory
from django.utils import timezone

from idaos.models import IDAO, Membership
from portal.models import User
from tests.personas import Persona, many


def user_of(p: Persona) -> User:
    """The portal user of a persona, created on first use."""
    return User.objects.get_or_create(address=p.address)[0]


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
    domain = "science"
    created_by = factory.SubFactory(UserFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    idao = factory.SubFactory(IdaoFactory)
    user = factory.SubFactory(UserFactory)
    status = "active"
    joined_at = factory.LazyFunction(timezone.now)
