"""Create a quorum from the command line (the first one of a fresh deployment), audited and
anchored in the name of a staff address like every moderation action."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from portal.errors import DomainError
from portal.models import User, checksum
from quorums import services


class Command(BaseCommand):
    help = "Create a quorum in the name of a staff address (see `manage.py grant_admin`)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--by", required=True, help="the staff address (0x…) the creation is audited under")
        parser.add_argument("--reason", default="first quorum of this deployment")
        parser.add_argument("--description", default="")
        parser.add_argument("--committee-size", type=int, default=3)
        parser.add_argument("--threshold-bps", type=int, default=6667, help="share of committee stake that decides")
        parser.add_argument("--min-participation-bps", type=int, default=5000)
        parser.add_argument("--min-bond", type=int, default=1, help="LAZ (smallest unit) a validator must bond")
        parser.add_argument("--round-hours", type=float, default=24.0)

    def handle(self, *args, name: str, by: str, reason: str, **options) -> None:
        try:
            actor = User.objects.get(address=checksum(by))
        except (ValueError, User.DoesNotExist):
            raise CommandError(f"{by} is not a known address: run `manage.py grant_admin {by}` first.") from None
        try:
            quorum = services.quorum_create(
                actor=actor,
                name=name,
                reason=reason,
                description=options["description"],
                committee_size=options["committee_size"],
                threshold_bps=options["threshold_bps"],
                min_participation_bps=options["min_participation_bps"],
                min_bond=options["min_bond"],
                round_duration=timedelta(hours=options["round_hours"]),
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc}") from None
        self.stdout.write(
            f"Created quorum {quorum.pk} ({quorum.name}). An iDAO uses it once its members pass a trust_quorum proposal."
        )
