from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from idaos.models import IDAO, Membership
from idaos.selectors import is_member, is_steward, member_addresses
from portal.models import User
from tests.personas import ALICE, BOB


@pytest.mark.django_db
def test_reward_split_must_sum_to_10000():
    alice = User.objects.create_user(ALICE.address)
    IDAO.objects.create(slug="ok", name="Ok", domain="science", created_by=alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        IDAO.objects.create(
            slug="bad",
            name="Bad",
            domain="science",
            created_by=alice,
            split_contributors_bps=5000,
            split_treasury_bps=5000,
            split_validators_bps=1,
        )


@pytest.mark.django_db
def test_one_open_membership_per_user_and_selectors():
    alice = User.objects.create_user(ALICE.address)
    bob = User.objects.create_user(BOB.address)
    idao = IDAO.objects.create(slug="h", name="H", domain="healthcare", created_by=alice)
    Membership.objects.create(idao=idao, user=alice, role="steward", status="active")
    Membership.objects.create(idao=idao, user=bob, status="pending")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(idao=idao, user=bob, status="active")
    assert is_steward(idao=idao, user=alice) and is_member(idao=idao, user=alice)
    assert not is_member(idao=idao, user=bob)
    assert member_addresses(idao) == [ALICE.address]
