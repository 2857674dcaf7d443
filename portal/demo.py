"""Demo people for the embedded default. Their keys are public test keys, never real funds."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

from .models import User

DEMO_NAMES = {"alice": 0x11, "bob": 0x22, "carol": 0x33, "dave": 0x44, "erin": 0x55}


def demo_account(name: str) -> LocalAccount:
    return Account.from_key(bytes([DEMO_NAMES[name]]) * 32)


def load(stdout) -> None:
    for name in DEMO_NAMES:
        address = demo_account(name).address
        user, created = User.objects.get_or_create(address=address, defaults={"display_name": name.title()})
        if created:
            user.set_unusable_password()
            user.save()
        elif not user.display_name:  # signed in before the demo was loaded: give them their name
            user.display_name = name.title()
            user.save(update_fields=["display_name"])
    stdout.write(f"demo people: {', '.join(DEMO_NAMES)}")
