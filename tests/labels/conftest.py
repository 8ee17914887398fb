"""Two labels with staff and one object of every portal model each.

Label A's objects carry the token ``alphatok`` in their text and label B's ``zzbeta``, so a page
that leaks the other label's data is caught by a substring test.
"""

import io
import wave
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from catalog.models import Artist, Genre, Track
from labels.models import Invitation, Label, Membership, Role
from rooms.models import Campaign, Premiere, Room, RoomRole

TOKENS = {"A": "alphatok", "B": "zzbeta"}


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x01" * int(seconds * rate))
    return buf.getvalue()


def wav_upload(name: str = "song.wav", seconds: float = 1.0) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, wav_bytes(seconds), content_type="audio/wav")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The world creates seven users per test; the real hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Side:
    label: Label
    objects: dict = field(default_factory=dict)

    def obj(self, model):
        return self.objects[model]


def _populate(label: Label, tok: str, staff) -> dict:
    artist = Artist.objects.create(name=f"{tok} artist", slug=f"{tok}-artist", label=label)
    track = Track.objects.create(title=f"{tok} track", label=label, duration_ms=1000)
    track.artists.set([artist])
    track.audio.save(f"{tok}.wav", SimpleUploadedFile("x.wav", wav_bytes()), save=True)
    room = Room.objects.create(
        name=f"{tok} room", slug=f"{tok}-room", label=label, artist=artist, theme_primary="#112233"
    )
    RoomRole.objects.create(room=room, user=staff, role=RoomRole.Kind.MODERATOR)
    today = timezone.localdate()
    return {
        Artist: artist,
        Track: track,
        Room: room,
        Premiere: Premiere.objects.create(
            label=label,
            room=room,
            track=track,
            title=f"{tok} premiere",
            starts_at=timezone.now() + timedelta(days=1),
        ),
        Campaign: Campaign.objects.create(
            label=label,
            room=room,
            name=f"{tok} campaign",
            starts_on=today,
            ends_on=today + timedelta(days=7),
        ),
        Invitation: Invitation.objects.create(
            label=label, email=f"{tok}-invitee@example.com", role=Role.ANALYST, token=f"{tok}-t"
        ),
        Membership: Membership.objects.get(label=label, user=staff),
    }


@dataclass
class World:
    a: Side
    b: Side
    owner_a: object
    analyst_a: object
    manager_b: object
    fan: object
    genre: Genre

    def side(self, name: str) -> Side:
        return self.a if name == "A" else self.b


@pytest.fixture
def world(make_user) -> World:
    label_a = Label.objects.create(name="Alpha alphatok Records", slug="alpha")
    label_b = Label.objects.create(name="zzbeta Music", slug="beta")
    owner_a = make_user("owner_alphatok")
    analyst_a = make_user("analyst_alphatok")
    manager_b = make_user("manager_zzbeta")
    staff_a = make_user("staff_alphatok")
    staff_b = make_user("staff_zzbeta")
    fan = make_user("fan")
    Membership.objects.create(label=label_a, user=owner_a, role=Role.OWNER)
    Membership.objects.create(label=label_a, user=analyst_a, role=Role.ANALYST)
    Membership.objects.create(label=label_a, user=staff_a, role=Role.MANAGER)
    Membership.objects.create(label=label_b, user=manager_b, role=Role.MANAGER)
    Membership.objects.create(label=label_b, user=staff_b, role=Role.OWNER)
    return World(
        a=Side(label_a, _populate(label_a, TOKENS["A"], staff_a)),
        b=Side(label_b, _populate(label_b, TOKENS["B"], staff_b)),
        owner_a=owner_a,
        analyst_a=analyst_a,
        manager_b=manager_b,
        fan=fan,
        genre=Genre.objects.create(name="Shared genre"),
    )
