"""A premiere scheduled, moved or dropped in the label portal reaches open room pages live."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from labels.models import Label, Membership, Role
from rooms.models import Premiere, Room
from rooms.selectors import ms
from tests.rooms.conftest import join, session_cookie
from tests.rooms.test_fallback_kit import open_stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def label_room(make_user, make_track):
    label = Label.objects.create(name="Lumen Records", slug="lumen")
    boss = make_user("boss")
    Membership.objects.create(label=label, user=boss, role=Role.OWNER)
    room = Room.objects.create(name="Lumen room", slug="lumen-room", label=label)
    track = make_track("Debut", label=label)
    return boss, room, track


def _when(value) -> dict:
    local = timezone.localtime(value)
    return {"starts_at_0": local.date().isoformat(), "starts_at_1": local.strftime("%H:%M:%S")}


def test_portal_premiere_reaches_open_pages(label_room, make_user):
    boss, room, track = label_room
    fan = make_user("bea")
    cookie = session_cookie(fan)
    portal = HttpClient()
    portal.force_login(boss)
    starts = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    later = starts + timedelta(hours=1)

    async def body():
        page = await join(room.slug, cookie)
        stream = await open_stream(room.slug, cookie)
        assert page.snapshot["premiere"] is None
        data = {"title": "Album night", "room": room.pk, "track": track.pk, **_when(starts)}
        response = await sync_to_async(portal.post)(reverse("label:rooms_premiere_add"), data)
        assert response.status_code == 302
        await page.expect("room.updated")
        frame = await page.expect("premiere")
        assert frame["premiere"] == {"title": "Album night", "starts_at": ms(starts)}
        assert "seq" not in frame
        over_http = await stream.frame("premiere")
        assert over_http["premiere"] == frame["premiere"]
        await stream.close()

        premiere = await sync_to_async(Premiere.objects.get)(title="Album night")
        url = reverse("label:rooms_premiere_change", args=[premiere.pk])
        moved = {**data, "title": "Album night (late)", **_when(later)}
        response = await sync_to_async(portal.post)(url, moved)
        assert response.status_code == 302
        frame = await page.expect("premiere")
        assert frame["premiere"] == {"title": "Album night (late)", "starts_at": ms(later)}

        url = reverse("label:rooms_premiere_delete", args=[premiere.pk])
        response = await sync_to_async(portal.post)(url, {"post": "yes"})
        assert response.status_code == 302
        frame = await page.expect("premiere")
        assert frame["premiere"] is None
        await page.close()

    async_to_sync(body)()
    assert not Premiere.objects.exists()


def test_a_refused_premiere_sends_nothing(label_room, make_user):
    boss, room, track = label_room
    cookie = session_cookie(make_user("bea"))
    portal = HttpClient()
    portal.force_login(boss)
    past = timezone.now() - timedelta(hours=1)

    async def body():
        page = await join(room.slug, cookie)
        data = {"title": "Too late", "room": room.pk, "track": track.pk, **_when(past)}
        response = await sync_to_async(portal.post)(reverse("label:rooms_premiere_add"), data)
        assert response.status_code == 200  # the form again, with its error
        await page.send({"type": "time.ping", "t0": 1})
        await page.expect("time.pong")
        assert not [f for f in page.seen if f["type"] in ("room.updated", "premiere")]
        await page.close()

    async_to_sync(body)()
    assert not Premiere.objects.exists()
