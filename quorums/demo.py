"""Demo quorum for the embedded default: one quorum trusted by the demo iDAOs, with three
automated demo validators bonded into it (their keys derive from a public seed: demo only).
Dave is the demo's staff member, so the moderation pages can be tried. Idempotent."""

from __future__ import annotations

from idaos.models import IDAO
from portal.demo import demo_account
from portal.models import User

from . import services
from .models import Quorum

NAME = "Open Data Validators"


def load(stdout) -> None:
    admin, _ = User.objects.get_or_create(address=demo_account("dave").address, defaults={"display_name": "Dave"})
    if not admin.is_staff:
        admin.is_staff = True
        admin.save(update_fields=["is_staff"])
    quorum = Quorum.objects.filter(name=NAME).first()
    if quorum is None:
        quorum = services.quorum_create(
            actor=admin,
            name=NAME,
            reason="demo quorum for the embedded portal",
            committee_size=3,
            description="Three automated validators re-hash every file, sniff its type and look for duplicates.",
        )
    for idao in IDAO.objects.all():
        services.trust_set(idao=idao, quorum_id=quorum.pk, active=True)
    services.demo_validators(quorum_id=quorum.pk, count=3)
    stdout.write(f"demo quorum: {NAME} with 3 automated validators (staff: Dave)")
