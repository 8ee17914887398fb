"""A synthetic event log with known totals, written through the real tables and capture path.

`Truth` counts every event independently of the rollup code, the plain way: for each bucket of
each granularity, which entities it counts for and by how much.
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from catalog.models import Artist, Track
from labels.models import Label, Membership
from rooms.impressions import SLOT, impressions_record_at
from rooms.models import (
    ChatMessage,
    Favourite,
    ListeningSession,
    Play,
    QueueEntry,
    Room,
    SkipVote,
    Vote,
)

START = datetime(2026, 3, 6, tzinfo=UTC)  # a Friday: the log crosses a week boundary
GRANS = ("hour", "day", "week")


def floor(at: datetime, gran: str) -> datetime:
    at = at.replace(minute=0, second=0, microsecond=0)
    if gran == "hour":
        return at
    at = at.replace(hour=0)
    return at if gran == "day" else at - timedelta(days=at.weekday())


def step(gran: str) -> timedelta:
    return {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}[gran]


def ms(a: datetime, b: datetime) -> int:
    return round((b - a) / timedelta(milliseconds=1))


@dataclass
class Truth:
    counts: dict = field(default_factory=lambda: defaultdict(int))
    distinct: dict = field(default_factory=lambda: defaultdict(set))

    def add(self, stat, at, entities, n=1):
        for gran in GRANS:
            for etype, eid in entities:
                self.counts[(stat, gran, floor(at, gran), etype, eid)] += n

    def total(self, stat, etype, eid, gran="day", start=None, end=None):
        if stat in ("unique_listeners", "reach"):
            src = {k: len(v) for k, v in self.distinct.items()}
        else:
            src = self.counts
        return sum(
            v
            for (s, g, b, t, i), v in src.items()
            if s == stat
            and g == gran
            and t == etype
            and i == eid
            and (start is None or b >= start)
            and (end is None or b < end)
        )

    def rows(self):
        out = {k: v for k, v in self.counts.items() if v}
        out.update({k: len(v) for k, v in self.distinct.items() if v})
        return out


class World:
    @classmethod
    def build(cls, make_user):
        w = cls()
        w.label_a = Label.objects.create(name="Alpha Records")
        w.label_b = Label.objects.create(name="Beta Sound")
        w.staff_a = make_user("staff_a")
        w.staff_b = make_user("staff_b")
        Membership.objects.create(label=w.label_a, user=w.staff_a, role="owner")
        Membership.objects.create(label=w.label_b, user=w.staff_b, role="owner")
        w.art_a1 = Artist.objects.create(name="Ada", slug="ada", label=w.label_a)
        w.art_a2 = Artist.objects.create(name="Abe", slug="abe", label=w.label_a)
        w.art_b1 = Artist.objects.create(name="Bea", slug="bea", label=w.label_b)
        w.ta1 = Track.objects.create(title="A one", label=w.label_a, duration_ms=180000)
        w.ta2 = Track.objects.create(title="A two", label=w.label_a, duration_ms=200000)
        w.tb1 = Track.objects.create(title="B one", label=w.label_b, duration_ms=190000)
        w.ta1.artists.set([w.art_a1])
        w.ta2.artists.set([w.art_a1, w.art_a2])
        w.tb1.artists.set([w.art_b1])
        w.ra1 = Room.objects.create(slug="ra1", name="Alpha One", label=w.label_a)
        w.ra2 = Room.objects.create(slug="ra2", name="Alpha Two", label=w.label_a)
        w.rb1 = Room.objects.create(slug="rb1", name="Beta One", label=w.label_b)
        w.rf = Room.objects.create(slug="fan", name="Fan room")
        w.rooms = [w.ra1, w.ra2, w.rb1, w.rf]
        w.tracks = [w.ta1, w.ta2, w.tb1]
        w.artists_of = {w.ta1.id: [w.art_a1.id], w.ta2.id: [w.art_a1.id, w.art_a2.id]}
        w.artists_of[w.tb1.id] = [w.art_b1.id]
        w.fans = [make_user(f"fan{i}") for i in range(6)]
        w.truth = Truth()
        w.seen = set()
        w.rng = random.Random(7)
        return w

    # -- who an event counts for --------------------------------------------------------------
    def _entities(self, room, track):
        out = []
        if room is not None:
            out.append(("room", room.id))
        if track is not None:
            out.append(("track", track.id))
            out += [("artist", a) for a in self.artists_of[track.id]]
        labels = {room.label_id if room else None, track.label_id if track else None}
        return out + [("label", label_id) for label_id in labels - {None}]

    def _room_entities(self, room):
        return [("room", room.id)] + ([("label", room.label_id)] if room.label_id else [])

    def _at(self, start, hours):
        return start + timedelta(seconds=self.rng.randrange(int(hours * 3600)))

    # -- writing events -------------------------------------------------------------------------
    def events(self, start: datetime, hours: float, n: int = 40) -> None:
        """n of each kind of event between start and start + hours."""
        for _ in range(n):
            room, track = self.rng.choice(self.rooms), self.rng.choice(self.tracks)
            at = self._at(start, hours)
            entry = QueueEntry.objects.create(room=room, track=track, status="played")
            QueueEntry.objects.filter(id=entry.id).update(created_at=at)
            self.truth.add("adds", at, self._entities(room, track))
            Play.objects.create(room=room, entry=entry, track=track, started_at=at, listeners=3)
            self.truth.add("plays", at, self._entities(room, track))
            for fan in self.rng.sample(self.fans, self.rng.randrange(0, 3)):
                v = Vote.objects.create(entry=entry, user=fan, value=self.rng.choice([1, -1]))
                vat = at + timedelta(seconds=self.rng.randrange(600))
                Vote.objects.filter(id=v.id).update(created_at=vat)
                self.truth.add("votes", vat, self._entities(room, track))
            if self.rng.random() < 0.3:
                s = SkipVote.objects.create(entry=entry, user=self.rng.choice(self.fans))
                SkipVote.objects.filter(id=s.id).update(created_at=at)
                self.truth.add("skips", at, self._entities(room, track))
            fan = self.rng.choice(self.fans)
            if (
                self.rng.random() < 0.3
                and not Favourite.objects.filter(user=fan, track=track).exists()
            ):
                f = Favourite.objects.create(user=fan, track=track, room=room)
                Favourite.objects.filter(id=f.id).update(created_at=at)
                self.truth.add("favourites", at, self._entities(room, track))
            c = ChatMessage.objects.create(room=room, user=fan, text="hi")
            cat = self._at(start, hours)
            ChatMessage.objects.filter(id=c.id).update(created_at=cat)
            self.truth.add("chat", cat, self._entities(room, None))
        # An autofilled entry is not an add.
        QueueEntry.objects.create(room=self.ra1, track=self.ta1, autofilled=True)

    def sessions(self, start: datetime, hours: float, n: int = 20) -> None:
        for i in range(n):
            room = self.rng.choice(self.rooms)
            began = self._at(start, hours)
            ended = began + timedelta(minutes=self.rng.randrange(1, 200), microseconds=1234)
            anonymous = i % 4 == 0
            user = None if anonymous else self.rng.choice(self.fans)
            key = f"anon{self.rng.randrange(3)}" if anonymous else ""
            ListeningSession.objects.create(
                room=room,
                user=user,
                session_key=key,
                started_at=began,
                ended_at=ended,
                last_seen_at=ended,
            )
            who = f"u{user.id}" if user else f"s{key}"
            for gran in GRANS:
                at = floor(began, gran)
                while at < ended:
                    part = ms(max(began, at), min(ended, at + step(gran)))
                    for etype, eid in self._room_entities(room):
                        self.truth.counts[("listening_ms", gran, at, etype, eid)] += part
                        self.truth.distinct[("unique_listeners", gran, at, etype, eid)].add(who)
                    at += step(gran)
        # An open session is not counted until it ends.
        ListeningSession.objects.create(
            room=self.ra1, started_at=start, last_seen_at=start, session_key="open"
        )

    def impressions(self, start: datetime, hours: float, n: int = 60) -> None:
        for _ in range(n):
            rooms = self.rng.sample(self.rooms, self.rng.randrange(1, 4))
            surface = self.rng.choice(["directory", "page", "embed", "search"])
            viewer = f"v{self.rng.randrange(25)}"
            at = self._at(start, hours)
            impressions_record_at(
                room_ids=[r.id for r in rooms], surface=surface, viewer=viewer, at=at
            )
            for room in rooms:
                # OTS counts a viewer once per room, surface and half-hour slot.
                once = (viewer, room.id, surface, int(at.timestamp()) // SLOT)
                if once not in self.seen:
                    self.seen.add(once)
                    self.truth.add("ots", at, self._room_entities(room))
                for gran in GRANS:
                    for etype, eid in self._room_entities(room):
                        self.truth.distinct[("reach", gran, floor(at, gran), etype, eid)].add(
                            viewer
                        )
