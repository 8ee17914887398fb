"""python manage.py seed_demo: load the demo data (idempotent; see rooms/demo.py)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rooms.demo import seed_demo


class Command(BaseCommand):
    help = "Create demo labels, artists, tracks with synthesized audio, accounts and rooms."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even without DEBUG. The demo accounts have published passwords.",
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates accounts whose passwords are published (config/demo_logins.py)"
                "; it runs only with DEBUG=true. Pass --force to seed anyway."
            )
        started = time.perf_counter()
        report = seed_demo()
        self.stdout.write(f"{report} ({time.perf_counter() - started:.1f} s)")
