"""python manage.py seed_analytics_demo: weeks of plays, listening sessions and impressions for the
demo rooms, rolled up, so the dashboards look real on first run. seed_demo calls it by name."""

import random
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from analytics import rollups
from analytics.buckets import day_floor
from analytics.models import StatCount
from catalog.models import Track
from rooms.impressions import impressions_flush, impressions_record_at
from rooms.models import ListeningSession, Play, QueueEntry, Room


class Command(BaseCommand):
    help = "Create a few weeks of analytics events for the demo rooms and roll them up."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=21)
        parser.add_argument("--force", action="store_true", help="seed even if stats exist")

    def handle(self, *args, days: int = 21, force: bool = False, **options):
        if StatCount.objects.exists() and not force:
            self.stdout.write("analytics demo data already there (use --force to add more)")
            return
        started = time.perf_counter()
        rng = random.Random(2012)
        now = timezone.now()
        end = now.replace(minute=0, second=0, microsecond=0)
        begin = day_floor(end - timedelta(days=days))
        rooms = list(Room.objects.filter(visibility=Room.Visibility.PUBLIC))
        fans = list(get_user_model().objects.filter(is_staff=False)[:50])
        counts = {"plays": 0, "sessions": 0, "impressions": 0}
        for room in rooms:
            pool = list(Track.objects.filter(label_id=room.label_id, duration_ms__gt=0)[:40])
            pool = pool or list(Track.objects.filter(duration_ms__gt=0)[:40])
            if not pool:
                continue
            popularity = rng.uniform(0.4, 1.6) * (1.6 if room.label_id else 1.0)
            with transaction.atomic():
                counts["plays"] += self._plays(room, pool, begin, end, rng)
                counts["sessions"] += self._sessions(room, fans, begin, end, rng, popularity)
            counts["impressions"] += self._impressions(room, rooms, begin, end, rng, popularity)
        flushed = impressions_flush()
        rollups.rollup_all(now=now, extra_hours=flushed)
        self.stdout.write(
            f"analytics demo: {counts['plays']} plays, {counts['sessions']} sessions, "
            f"{counts['impressions']} impressions over {days} days "
            f"({time.perf_counter() - started:.1f} s)"
        )

    @staticmethod
    def _activity(at, rng) -> float:
        """Evenings are busy, nights quiet, weekends busier: a room's daily rhythm."""
        hour = at.hour
        base = 0.25 if hour < 7 else 0.7 if hour < 17 else 1.0
        return base * (1.25 if at.weekday() >= 5 else 1.0) * rng.uniform(0.8, 1.2)

    def _plays(self, room, pool, begin, end, rng) -> int:
        entries, plays, at = [], [], begin
        while at < end:
            track = rng.choice(pool)
            entries.append(QueueEntry(room=room, track=track, status="played", started_at_ms=0))
            plays.append((track, at, max(1, int(rng.gauss(12, 5) * self._activity(at, rng)))))
            at += timedelta(milliseconds=track.duration_ms or 180_000)
        QueueEntry.objects.bulk_create(entries, batch_size=2000)
        for entry, (_, started, _) in zip(entries, plays, strict=True):
            entry.created_at = started - timedelta(minutes=rng.randrange(1, 30))
            entry.started_at_ms = int(started.timestamp() * 1000)
        QueueEntry.objects.bulk_update(entries, ["created_at", "started_at_ms"], batch_size=2000)
        Play.objects.bulk_create(
            [
                Play(room=room, entry=e, track=t, started_at=s, listeners=n)
                for e, (t, s, n) in zip(entries, plays, strict=True)
            ],
            batch_size=2000,
        )
        return len(plays)

    def _sessions(self, room, fans, begin, end, rng, popularity) -> int:
        sessions, at = [], begin
        while at < end:
            for _ in range(int(rng.uniform(2, 8) * popularity * self._activity(at, rng))):
                began = at + timedelta(seconds=rng.randrange(3600))
                ended = min(began + timedelta(minutes=rng.expovariate(1 / 25) + 1), end)
                user = rng.choice(fans) if fans and rng.random() < 0.6 else None
                sessions.append(
                    ListeningSession(
                        room=room,
                        user=user,
                        session_key="" if user else f"demo{rng.randrange(400)}",
                        started_at=began,
                        ended_at=ended,
                        last_seen_at=ended,
                    )
                )
            at += timedelta(hours=1)
        ListeningSession.objects.bulk_create(sessions, batch_size=2000)
        return len(sessions)

    def _impressions(self, room, rooms, begin, end, rng, popularity) -> int:
        n, at = 0, begin
        while at < end:
            for _ in range(int(rng.uniform(3, 12) * popularity * self._activity(at, rng))):
                surface = rng.choice(["directory", "directory", "search", "page", "embed"])
                viewer = f"demo-viewer-{rng.randrange(600)}"
                moment = at + timedelta(seconds=rng.randrange(3600))
                impressions_record_at(room_ids=[room.id], surface=surface, viewer=viewer, at=moment)
                n += 1
            at += timedelta(hours=1)
        return n
