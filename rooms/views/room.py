"""A room's pages: the room itself, its embeddable widget, its preview, and creating one."""

import re
from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_http_methods

from config.rate_limit import rate_limit_allow_sync
from rooms.forms import RoomCreateForm
from rooms.impressions import Surface, impressions_record
from rooms.models import Room
from rooms.selectors import room_snapshot
from rooms.views.access import viewable_room_or_404, viewer_key

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
PREVIEW_QUEUE = 5
OTHER_ROOMS = 5


def _snapshot(room, user) -> dict:
    return room_snapshot(room=room, user=user)


def _when(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


def _now_playing_view(snapshot: dict) -> dict | None:
    """The snapshot's now playing with what the server render needs: progress and clock times."""
    now_playing = snapshot.get("now_playing")
    if not now_playing:
        return None
    duration = now_playing["track"].get("duration_ms") or 0
    elapsed = max(0, snapshot["server_time"] - now_playing["started_at"])
    if duration:
        elapsed = min(elapsed, duration)
    return {
        **now_playing,
        "elapsed_ms": elapsed,
        "progress_pct": round(100 * elapsed / duration, 1) if duration else 0,
        "elapsed_text": _mmss(elapsed),
        "length": _mmss(duration),
        "upcoming": now_playing["started_at"] > snapshot["server_time"],
    }


def _mmss(ms: int | None) -> str:
    seconds = max(0, int((ms or 0) / 1000))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _with_length(item: dict) -> dict:
    track = item.get("track") or {}
    return {**item, "length": _mmss(track.get("duration_ms"))}


def _theme_style(theme: dict) -> str:
    """CSS custom properties from the room's colours, only ones that are plain hex colours."""
    pairs = []
    for key, var in (("primary", "--room-primary"), ("accent", "--room-accent")):
        value = (theme or {}).get(key) or ""
        if HEX_COLOUR.match(value):
            pairs.append(f"{var}: {value}")
    return "; ".join(pairs)


def _safe_links(links: dict | None) -> dict:
    """Only web links: an admin-typed ``javascript:`` URL must never become a clickable link."""
    return {
        key: value
        for key, value in (links or {}).items()
        if isinstance(value, str) and value.startswith(("https://", "http://"))
    }


def _room_context(snapshot: dict) -> dict:
    room = snapshot["room"]
    permissions = set(snapshot["you"].get("permissions") or [])
    return {
        "snap": snapshot,
        "now_playing": _now_playing_view(snapshot),
        "queue": [_with_length(q) for q in snapshot.get("queue", [])],
        "chat": [{**m, "when": _when(m.get("created_at"))} for m in snapshot.get("chat", [])],
        "history": [
            {**_with_length(h), "when": _when(h.get("started_at"))}
            for h in snapshot.get("history", [])
        ],
        "premiere": (
            {**snapshot["premiere"], "when": _when(snapshot["premiere"]["starts_at"])}
            if snapshot.get("premiere")
            else None
        ),
        "theme_style": _theme_style(room.get("theme")),
        "links": _safe_links(room.get("links")),
        "can": {p: True for p in permissions},
    }


def room_page(request, slug):
    room = viewable_room_or_404(request, slug)
    snapshot = _snapshot(room, request.user)
    impressions_record(room_ids=[room.id], surface=Surface.PAGE, viewer=viewer_key(request))
    others = list(
        Room.objects.filter(visibility=Room.Visibility.PUBLIC)
        .exclude(id=room.id)
        .order_by("-listener_count", "-id")
        .only("slug", "name", "listener_count")[:OTHER_ROOMS]
    )
    context = {"room": room, "others": others, **_room_context(snapshot)}
    return render(request, "rooms/room.html", context)


@xframe_options_exempt
def room_embed(request, slug):
    room = viewable_room_or_404(request, slug)
    snapshot = _snapshot(room, request.user)
    impressions_record(room_ids=[room.id], surface=Surface.EMBED, viewer=viewer_key(request))
    context = {"room": room, **_room_context(snapshot)}
    return render(request, "rooms/embed.html", context)


def room_preview(request, slug):
    """Now playing, the top of the queue and the listener count: a fragment, or JSON on request."""
    room = viewable_room_or_404(request, slug)
    snapshot = _snapshot(room, request.user)
    queue = snapshot.get("queue", [])[:PREVIEW_QUEUE]
    if request.GET.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    ):
        return JsonResponse(
            {
                "room": {"slug": room.slug, "name": room.name, "url": room.get_absolute_url()},
                "now_playing": snapshot.get("now_playing"),
                "queue": queue,
                "listeners": snapshot.get("listeners", {}).get("count", 0),
            }
        )
    context = {"room": room, **_room_context({**snapshot, "queue": queue})}
    return render(request, "rooms/preview.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def room_create(request):
    form = RoomCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Every room is a directory card and a playback row: a script must not mint thousands.
        if not rate_limit_allow_sync(action="room_create", who=str(request.user.pk)):
            form.add_error(None, "You have started many rooms lately; try again in a while.")
            return render(request, "rooms/create.html", {"form": form}, status=429)
        room = form.create(owner=request.user)
        if room is not None:
            return redirect(room.get_absolute_url())
    return render(request, "rooms/create.html", {"form": form})
