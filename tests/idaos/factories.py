from __future__ import annotations

from datetime import timedelta

from tests import factories as shared
from tests.factories import MembershipFactory, UserFactory

__all__ = ["IdaoFactory", "MembershipFactory", "UserFactory"]


class IdaoFactory(shared.IdaoFactory):
    """An iDAO whose proposals vote at once for an hour with no quorum."""

    domain = "healthcare"
    voting_period = timedelta(hours=1)
    voting_delay = timedelta(0)
    quorum_bps = 0
