"""The profile page's panel registry (portal.profiles): another app adds a panel from its
AppConfig.ready() and it appears on /people/<address>/ in order, with its own template and context."""

from __future__ import annotations

import pytest

from portal import profiles
from tests.factories import user_of
from tests.personas import BOB

pytestmark = pytest.mark.django_db


def test_a_registered_panel_appears_on_the_profile_in_order(client, monkeypatch):
    monkeypatch.setattr(profiles, "_panels", dict(profiles._panels))
    seen = []

    def validator_record(person, viewer):
        seen.append((person.address, viewer.is_authenticated))
        return profiles.ProfilePanel("Validator record", "portal/error.html", {}, "validator")

    profiles.register_profile_panel("validator", validator_record, order=5)
    profiles.register_profile_panel("nothing", lambda person, viewer: None, order=1)
    user_of(BOB)
    body = client.get(f"/people/{BOB.address}/").content.decode()
    assert seen == [(BOB.address, False)]
    assert body.index('id="validator"') < body.index('id="delegation"') < body.index('id="votes"')
    assert 'id="nothing"' not in body
    assert f'title="{BOB.address}"' in body  # the short address keeps the full one in its title
