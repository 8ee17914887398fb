"""Roll raw facts up: `rollup` does what is new; `rollup --from D --to D` backfills a range."""

from datetime import UTC, date, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from analytics import rollups
from analytics.sources import ALL_STATS
from rooms.impressions import impressions_flush


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date like 2026-01-31") from None


class Command(BaseCommand):
    help = "Roll up analytics: incrementally, or recompute a date range (--from/--to, inclusive)."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", type=_day, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", type=_day, help="last day, YYYY-MM-DD")
        parser.add_argument(
            "--stat", action="append", choices=list(ALL_STATS), help="only these stats"
        )

    def handle(self, *args, start=None, end=None, stat=None, **options):
        say = self.stdout.write if options["verbosity"] >= 1 else (lambda _text: None)
        # The flush marks the hours it wrote: the incremental run below recomputes them.
        impressions_flush()
        if start is None and end is None:
            for result in rollups.rollup_all(stats=stat):
                if "skipped" in result:
                    say(f"{result['stat']}: skipped ({result['skipped']})")
                    continue
                redone = " (redoing a run that died midway)" if result["redone"] else ""
                say(f"{result['stat']}: {result['hours']} hours recomputed{redone}")
            return
        if start is None or end is None:
            raise CommandError("give both --from and --to")
        if end < start:
            raise CommandError("--to is before --from")
        begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
        finish = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        done = rollups.rollup_range(begin, finish, stats=stat)
        for name, hours in done.items():
            say(f"{name}: {hours} hours recomputed")
