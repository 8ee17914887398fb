"""What label staff do in the portal: switch labels, edit rooms, tracks, premieres, campaigns."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from catalog import admin_import
from catalog.models import Track
from labels.models import Membership, Role
from rooms.hub import get_hub, hub_rooms_enabled
from rooms.models import Campaign, Premiere, Room, RoomRole
from tests.labels.conftest import wav_upload
from tests.labels.helpers import changeform_data

pytestmark = pytest.mark.django_db


def test_index_shows_current_label_and_switches(client, world):
    user = world.owner_a
    Membership.objects.create(label=world.b.label, user=user, role=Role.ANALYST)
    client.force_login(user)
    page = client.get(reverse("label:index")).content.decode()
    assert world.a.label.name in page and 'name="label"' in page  # badge and switcher
    room_b = world.b.obj(Room)
    assert client.get(reverse("label:rooms_room_change", args=[room_b.pk])).status_code == 404

    response = client.post(reverse("label:switch_label"), {"label": world.b.label.pk})
    assert response.status_code == 302
    assert client.get(reverse("label:rooms_room_change", args=[room_b.pk])).status_code == 200
    room_a = world.a.obj(Room)
    assert client.get(reverse("label:rooms_room_change", args=[room_a.pk])).status_code == 404
    # An analyst at B now: read-only there, even though owner at A.
    assert client.get(reverse("label:rooms_room_add")).status_code == 403
    assert client.post(reverse("label:switch_label"), {"label": "nope"}).status_code == 404


def test_room_edit_saves_theme_and_broadcasts(client, world, django_capture_on_commit_callbacks):
    client.force_login(world.owner_a)
    room = world.a.obj(Room)
    change = reverse("label:rooms_room_change", args=[room.pk])
    data = changeform_data(client.get(change))
    data.update(theme_primary="#ff3366", pinned_message="New single out Friday")

    def save():
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(change, data)

    async def save_and_listen():
        if hub_rooms_enabled():
            # Listen as a socket of this process would: registered with the room hub.
            got: asyncio.Queue = asyncio.Queue()

            async def collect(message):
                await got.put(message)

            hub = get_hub()
            listener = await hub.join(room.pk, collect)
            listener.start()
            try:
                saved = await sync_to_async(save)()
                return saved, await asyncio.wait_for(got.get(), timeout=5)
            finally:
                hub.leave(listener)
        # The layer hands group messages only to channels created in this process and loop.
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(f"room.{room.pk}", channel)
        saved = await sync_to_async(save)()
        return saved, await asyncio.wait_for(layer.receive(channel), timeout=5)

    response, message = async_to_sync(save_and_listen)()
    assert response.status_code == 302, response.context["adminform"].form.errors
    room.refresh_from_db()
    assert (room.theme_primary, room.pinned_message) == ("#ff3366", "New single out Friday")
    event = json.loads(message["text"])
    assert event["type"] == "room.updated"
    assert event["room"]["pinned_message"] == "New single out Friday"
    entry = LogEntry.objects.get(object_id=str(room.pk), action_flag=CHANGE)
    assert entry.user == world.owner_a
    history = client.get(reverse("label:rooms_room_history", args=[room.pk])).content.decode()
    assert "Pinned message" in history or "pinned" in history.lower()


def test_room_colour_must_be_hex(client, world):
    client.force_login(world.owner_a)
    room = world.a.obj(Room)
    change = reverse("label:rooms_room_change", args=[room.pk])
    data = changeform_data(client.get(change))
    data["theme_primary"] = "red; background:url(x)"
    response = client.post(change, data)
    assert response.status_code == 200
    assert "theme_primary" in response.context["adminform"].form.errors
    room.refresh_from_db()
    assert room.theme_primary == "#112233"


def test_moderators_come_from_the_labels_staff(client, world, make_user):
    client.force_login(world.owner_a)
    room = world.a.obj(Room)
    change = reverse("label:rooms_room_change", args=[room.pk])
    data = changeform_data(client.get(change))
    prefix = "roles"
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    outsider = make_user("outsider")
    data.update({f"{prefix}-TOTAL_FORMS": str(total + 1), f"{prefix}-{total}-user": outsider.pk,
                 f"{prefix}-{total}-role": "moderator"})  # fmt: skip
    response = client.post(change, data)
    assert response.status_code == 200
    assert not RoomRole.objects.filter(room=room, user=outsider).exists()
    data[f"{prefix}-{total}-user"] = world.analyst_a.pk
    response = client.post(change, data)
    assert response.status_code == 302
    assert RoomRole.objects.get(room=room, user=world.analyst_a).role == "moderator"


def test_track_upload_reads_duration(client, world):
    client.force_login(world.owner_a)
    add = reverse("label:catalog_track_add")
    artist = world.a.obj(Track).artists.get()
    response = client.post(
        add,
        {"title": "Fresh", "artists": [artist.pk], "audio_file": wav_upload(seconds=2.0)},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    track = Track.objects.get(title="Fresh")
    assert track.label == world.a.label
    assert track.duration_ms == 2000 and track.playable
    assert track.artist_names == artist.name
    page = client.get(reverse("label:catalog_track_change", args=[track.pk])).content.decode()
    assert "0:02" in page


def test_track_upload_rejects_non_audio(client, world):
    client.force_login(world.owner_a)
    before = Track.objects.count()
    bogus = SimpleUploadedFile("song.mp3", b"not audio at all" * 100, content_type="audio/mpeg")
    response = client.post(
        reverse("label:catalog_track_add"), {"title": "Bogus", "audio_file": bogus}
    )
    assert response.status_code == 200
    assert "audio_file" in response.context["adminform"].form.errors
    assert Track.objects.count() == before


def test_bad_isrc_is_reported_once_on_its_field(client, world):
    client.force_login(world.owner_a)
    track = world.a.obj(Track)
    url = reverse("label:catalog_track_change", args=[track.pk])
    data = changeform_data(client.get(url))
    data["isrc"] = "XX-bad"
    response = client.post(url, data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert [e.code for e in form.errors.as_data()["isrc"]] == ["invalid_isrc"]
    assert not form.non_field_errors()
    assert response.content.decode().count("is not a valid ISRC") == 1


def test_campaign_window_is_checked(client, world):
    client.force_login(world.owner_a)
    today = timezone.localdate()
    response = client.post(
        reverse("label:rooms_campaign_add"),
        {"name": "Backwards", "room": world.a.obj(Room).pk,
         "starts_on": today.isoformat(), "ends_on": (today - timedelta(days=1)).isoformat()},
    )  # fmt: skip
    assert response.status_code == 200
    assert "cannot end before" in str(response.context["adminform"].form.errors)
    response = client.post(
        reverse("label:rooms_campaign_add"),
        {"name": "Launch", "room": world.a.obj(Room).pk,
         "starts_on": (today + timedelta(days=30)).isoformat(),
         "ends_on": (today + timedelta(days=30)).isoformat()},
    )  # fmt: skip
    assert response.status_code == 302
    assert Campaign.objects.get(name="Launch").label == world.a.label


def test_a_room_has_one_campaign_at_a_time(client, world):
    client.force_login(world.owner_a)
    today = timezone.localdate() + timedelta(days=30)  # after the world's own campaign
    room = world.a.obj(Room)

    def add(name, starts, ends):
        return client.post(
            reverse("label:rooms_campaign_add"),
            {"name": name, "room": room.pk,
             "starts_on": (today + timedelta(days=starts)).isoformat(),
             "ends_on": (today + timedelta(days=ends)).isoformat()},
        )  # fmt: skip

    assert add("Spring", 0, 6).status_code == 302
    response = add("Overlap", 6, 10)
    assert response.status_code == 200
    assert "already has the campaign" in str(response.context["adminform"].form.errors)
    assert add("Later", 7, 10).status_code == 302
    spring = Campaign.objects.get(name="Spring")
    # Editing a campaign does not collide with itself.
    response = client.post(
        reverse("label:rooms_campaign_change", args=[spring.pk]),
        {"name": "Spring", "room": room.pk, "starts_on": today.isoformat(),
         "ends_on": (today + timedelta(days=5)).isoformat()},
    )  # fmt: skip
    assert response.status_code == 302


def test_premiere_starts_in_the_future(client, world):
    client.force_login(world.owner_a)
    past = timezone.now() - timedelta(hours=1)
    future = timezone.now() + timedelta(hours=3)
    data = {"title": "Album night", "room": world.a.obj(Room).pk, "track": world.a.obj(Track).pk}
    for when, status in ((past, 200), (future, 302)):
        response = client.post(
            reverse("label:rooms_premiere_add"),
            {**data, "starts_at_0": when.date().isoformat(),
             "starts_at_1": when.time().strftime("%H:%M:%S")},
        )  # fmt: skip
        assert response.status_code == status
    premiere = Premiere.objects.get(title="Album night")
    assert premiere.label == world.a.label


CSV_OK = "isrc,title,artists\nGBAYE0000001,First,alphatok artist\nGBAYE0000002,Second,New One\n"
CSV_BAD = "isrc,title,artists\nGBAYE0000003,Good,Someone\nnot-an-isrc,,Someone\n"


def _upload(client, text, **extra):
    delivery = SimpleUploadedFile("delivery.csv", text.encode(), content_type="text/csv")
    return client.post(reverse("label:catalog_track_import"), {"delivery": delivery, **extra})


def test_import_small_delivery_runs_at_once(client, world):
    client.force_login(world.owner_a)
    response = _upload(client, CSV_BAD)
    assert response.status_code == 200
    report = response.context["report"]
    assert not report["ok"] and report["created"] == 0
    assert {e["row"] for e in report["errors"]} == {3}
    assert "Nothing was imported" in response.content.decode()
    assert not Track.objects.filter(isrc="GBAYE0000003").exists()

    response = _upload(client, CSV_OK)
    assert response.context["report"]["created"] == 2
    assert set(Track.objects.filter(isrc__startswith="GBAYE").values_list("label", flat=True)) == {
        world.a.label.pk
    }


@pytest.fixture
def eager_celery():
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_import_large_delivery_reports_progress(client, world, monkeypatch, eager_celery):
    monkeypatch.setattr(admin_import, "SYNC_LIMIT_BYTES", 10)
    client.force_login(world.owner_a)
    response = _upload(client, CSV_OK)
    assert response.status_code == 302
    status_url = response["Location"]
    state = client.get(status_url, {"format": "json"}).json()
    assert state["state"] == "done" and state["done"] == state["total"] == 2
    assert state["report"]["created"] == 2
    assert "2 created" in client.get(status_url).content.decode()
    # The job is label A's: label B's staff cannot read it.
    client.force_login(world.manager_b)
    assert client.get(status_url, {"format": "json"}).status_code == 404


def test_portal_pages_link_within_the_portal_not_the_operators_admin(client, world):
    """The analytics pages' top bar and the index's recent actions stay in /label/."""
    client.force_login(world.owner_a)
    room = world.a.obj(Room)
    change = reverse("label:rooms_room_change", args=[room.pk])
    data = changeform_data(client.get(change))
    data.update(pinned_message="Linked from recent actions")
    assert client.post(change, data).status_code == 302

    index = client.get(reverse("label:index")).content.decode()
    assert f'href="{change}"' in index
    assert 'href="/admin/' not in index

    dashboard = client.get("/label/analytics/").content.decode()
    assert f'href="{reverse("label:index")}"' in dashboard
    assert f'action="{reverse("label:logout")}"' in dashboard
    assert 'href="/admin/' not in dashboard and 'action="/admin/' not in dashboard
