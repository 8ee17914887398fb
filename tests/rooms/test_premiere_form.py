"""The premiere form: a premiere that has not started cannot be put in the past."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labels.models import Label
from rooms.admin import PremiereForm
from rooms.models import Premiere, Room

pytestmark = pytest.mark.django_db


def _data(premiere, starts_at) -> dict:
    local = timezone.localtime(starts_at)
    return {
        "title": premiere.title,
        "room": premiere.room_id,
        "track": "",
        "starts_at": local.strftime("%Y-%m-%d %H:%M:%S"),
    }


@pytest.fixture
def premiere():
    label = Label.objects.create(name="Lumen Records", slug="lumen")
    room = Room.objects.create(name="Lumen room", slug="lumen-room", label=label)
    return Premiere.objects.create(
        label=label, room=room, title="Debut", starts_at=timezone.now() + timedelta(hours=2)
    )


def test_moving_a_pending_premiere_into_the_past_is_refused(premiere):
    form = PremiereForm(_data(premiere, timezone.now() - timedelta(minutes=5)), instance=premiere)
    assert not form.is_valid()
    assert "starts_at" in form.errors


def test_moving_a_pending_premiere_later_is_accepted(premiere):
    form = PremiereForm(_data(premiere, timezone.now() + timedelta(hours=5)), instance=premiere)
    assert form.is_valid(), form.errors


def test_a_started_premiere_keeps_its_past_time_on_other_edits(premiere):
    premiere.starts_at = timezone.now() - timedelta(hours=1)
    premiere.started = True
    premiere.save()
    data = _data(premiere, premiere.starts_at)
    data["title"] = "Debut (live)"
    form = PremiereForm(data, instance=premiere)
    assert form.is_valid(), form.errors
