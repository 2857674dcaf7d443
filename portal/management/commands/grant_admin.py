from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.models import User, checksum


class Command(BaseCommand):
    help = "Make an Ethereum address staff (admin); creates the user if it has never signed in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("address")
        parser.add_argument("--revoke", action="store_true", help="remove staff rights instead")

    def handle(self, *args, address: str, revoke: bool, **options) -> None:
        try:
            address = checksum(address)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        user, _ = User.objects.get_or_create(address=address)
        user.is_staff = user.is_superuser = not revoke
        user.save(update_fields=["is_staff", "is_superuser"])
        self.stdout.write(f"{address} is {'no longer ' if revoke else ''}staff")
