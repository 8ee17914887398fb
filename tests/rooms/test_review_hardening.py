"""Findings of the security review: ex-staff keep no room roles, premiere tracks stay held back,
frames with NUL or non-finite numbers are `invalid`, and new rooms are rate limited."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from labels.models import Label, Membership, Role
from labels.services import membership_remove
from rooms.models import ChatMessage, Premiere, QueueEntry, Room, RoomRole
from rooms.selectors import now_ms
from rooms.services import queue_add, room_create
from rooms.services.premieres import premieres_start_due
from tests.rooms.conftest import join, playing_id, session_cookie
from tests.rooms.test_consumer_errors import (
    _pong_helper,  # noqa: F401 (autouse: run_refusals)
    db_state,
    run_refusals,
)
from tests.rooms.test_fallback_actions import post

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def label(db):
    return Label.objects.create(name="Fjord Records", slug="fjord")


def test_staff_removal_reaches_open_pages(label, make_user):
    boss, staffer, fan = make_user("boss"), make_user("stef"), make_user("fay")
    Membership.objects.create(label=label, user=boss, role=Role.OWNER)
    membership = Membership.objects.create(label=label, user=staffer, role=Role.MANAGER)
    official = room_create(owner=None, name="Fjord Live", label=label)
    RoomRole.objects.create(room=official, user=staffer, role=RoomRole.Kind.MODERATOR)
    staff_cookie, fan_cookie = session_cookie(staffer), session_cookie(fan)

    async def body():
        mine = await join(official.slug, staff_cookie)
        other = await join(official.slug, fan_cookie)
        assert mine.snapshot["you"]["role"] == "moderator"
        await sync_to_async(membership_remove)(membership=membership, actor=boss)
        updated = await mine.expect("you.updated")
        assert updated["you"]["role"] == "listener"
        event = await other.expect("moderation", action="role")
        assert (event["actor"], event["target"], event["role"]) == ("boss", "stef", "listener")
        refused = await mine.request({"type": "mod.settings", "changes": {"name": "Mine now"}})
        await mine.close()
        await other.close()
        return refused

    assert async_to_sync(body)()["code"] == "forbidden"
    assert Room.objects.get(pk=official.pk).name == "Fjord Live"


def test_a_premiere_track_is_not_queueable_before_its_premiere(room, owner, label, make_track):
    secret = make_track("Unreleased Single", label=label)
    official = room_create(owner=None, name="Fjord Live", label=label)
    premiere = Premiere.objects.create(
        label=label,
        room=official,
        track=secret,
        title="World premiere",
        starts_at=timezone.now() + timedelta(days=7),
    )
    answers, _ = run_refusals(
        room.slug, session_cookie(owner), [{"type": "queue.add", "track_id": secret.id}]
    )
    assert answers[0]["code"] == "not_released" and answers[0]["request_type"] == "queue.add"
    assert not QueueEntry.objects.exists()

    # The premiere itself still starts it, and from then on any room may queue it.
    Premiere.objects.filter(pk=premiere.pk).update(starts_at=timezone.now())
    assert premieres_start_due(now=now_ms()) == 1
    assert QueueEntry.objects.get(id=playing_id(official)).track_id == secret.id
    entry = queue_add(room=room, user=owner, track_id=secret.id)
    assert entry.track_id == secret.id


def test_nul_and_non_finite_numbers_are_invalid_frames(room, owner, make_user, tracks):
    make_user("victim")
    cases = [
        {"type": "chat.send", "text": "hi\u0000"},
        {"type": "mod.settings", "changes": {"pinned_message": "x\u0000"}},
        {"type": "mod.settings", "changes": {"name\u0000": "x"}},
        {"type": "mod.ban", "username": "victim\u0000"},
        {"type": "chat.send", "text": "hi", "ref": "r\u0000"},
        '{"type": "mod.settings", "changes": {"downvote_ratio": NaN}}',
        '{"type": "mod.settings", "changes": {"downvote_ratio": -Infinity}}',
        '{"type": "time.ping", "t0": 1e999}',
    ]
    before = db_state()
    answers, pong = run_refusals(room.slug, session_cookie(owner), cases)
    assert [a["code"] for a in answers] == ["invalid"] * len(cases)
    after = db_state()
    after["ListeningSession"] -= 1
    assert after == before
    # The HTTP fallback answers the same, never server_error.
    answers = post(session_cookie(owner), room.slug, cases[:4] + cases[5:6])
    assert [(status, a["frames"][0]["code"]) for status, a in answers] == [(200, "invalid")] * 5
    assert not ChatMessage.objects.exists()
    assert Room.objects.get(pk=room.pk).downvote_ratio == room.downvote_ratio


def test_a_frame_of_brackets_is_a_bad_frame(room, owner):
    # Within the frame size, and deeper than the JSON parser recurses.
    answers, _ = run_refusals(room.slug, session_cookie(owner), ["[" * 2000 + "]" * 2000])
    assert answers[0]["code"] == "bad_frame"


def test_new_rooms_are_rate_limited(client, make_user):
    client.force_login(make_user("maker"))
    data = {"name": "Same", "mode": "jukebox", "visibility": "public"}
    statuses = [client.post("/rooms/new/", data).status_code for _ in range(11)]
    assert statuses == [302] * 10 + [429]
    response = client.post("/rooms/new/", data)
    assert response.status_code == 429 and "many rooms lately" in response.content.decode()
    assert Room.objects.filter(owner__username="maker").count() == 10
    # Another fan's budget is their own.
    client.force_login(make_user("other"))
    assert client.post("/rooms/new/", data).status_code == 302
