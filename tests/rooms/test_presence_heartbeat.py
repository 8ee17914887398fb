"""Presence heals after a dead process: its sessions stop getting heartbeats and the sweep closes
them, while a live process's heartbeat keeps its own sessions open."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from rooms import scheduler
from rooms.models import ListeningSession, Room
from rooms.presence import STALE_AFTER, session_open
from rooms.tasks import presence_sweep_task

pytestmark = pytest.mark.django_db(transaction=True)


def test_sweep_closes_sessions_of_a_dead_process_and_keeps_live_ones(
    room, owner, make_user, monkeypatch
):
    live = session_open(room=room, user=owner, channel_name="alive!1")
    dead = [
        session_open(room=room, user=make_user(f"fan{i}"), channel_name=f"dead!{i}")
        for i in range(3)
    ]
    # Both processes last wrote their heartbeat long ago; only one of them is still running.
    long_ago = timezone.now() - STALE_AFTER - timedelta(minutes=5)
    ListeningSession.objects.update(last_seen_at=long_ago)
    assert Room.objects.get(pk=room.pk).listener_count == 4

    monkeypatch.setattr(scheduler, "HEARTBEAT_EVERY_S", 0.05)

    async def live_process_beats():
        scheduler.watch(room.id, live)
        try:
            await asyncio.sleep(0.5)
        finally:
            scheduler.unwatch(room.id, live)
            await asyncio.gather(*scheduler._tasks, return_exceptions=True)

    async_to_sync(live_process_beats)()
    alive = ListeningSession.objects.get(id=live)
    assert alive.last_seen_at > timezone.now() - timedelta(seconds=30)

    result = presence_sweep_task()
    assert result["sessions_closed"] == 3
    closed = ListeningSession.objects.filter(id__in=dead)
    assert all(s.ended_at is not None for s in closed)
    assert ListeningSession.objects.get(id=live).ended_at is None
    assert Room.objects.get(pk=room.pk).listener_count == 1
    # Healing twice changes nothing.
    assert presence_sweep_task()["sessions_closed"] == 0
    assert Room.objects.get(pk=room.pk).listener_count == 1


def test_a_session_is_not_stale_before_its_time(room, owner):
    session_open(room=room, user=owner)
    recent = timezone.now() - STALE_AFTER + timedelta(seconds=30)
    ListeningSession.objects.update(last_seen_at=recent)
    assert presence_sweep_task()["sessions_closed"] == 0
    assert Room.objects.get(pk=room.pk).listener_count == 1
