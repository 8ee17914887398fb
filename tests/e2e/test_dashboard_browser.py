"""A label analyst signs in to the portal, opens the dashboard and sees its charts drawn."""

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from analytics import rollups
from analytics.buckets import hour_floor
from catalog.models import Track
from labels.models import Label, Membership, Role
from rooms.impressions import impressions_flush, impressions_record_at
from rooms.models import ListeningSession, Play, QueueEntry, Room

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/tmp/shots")


def _history(label: Label, days: int = 21) -> None:
    """Three weeks of plays, listening and displays with a weekly rhythm, rolled up."""
    rooms = [
        Room.objects.create(slug=f"north-{i}", name=name, label=label)
        for i, name in enumerate(["Aurora Vale Official", "Northern Nights", "Polar Sessions"])
    ]
    tracks = [
        Track.objects.create(title=f"Borealis {i + 1}", label=label, duration_ms=200_000)
        for i in range(6)
    ]
    today = hour_floor(timezone.now()).replace(hour=0)
    plays, sessions = [], []
    for day in range(days):
        start = today - timedelta(days=days - 1 - day)
        busy = 3 if start.weekday() >= 4 else 1  # weekends are busier
        for n in range(6 * busy + day):
            room, track = rooms[n % len(rooms)], tracks[(n * 5 + day) % len(tracks)]
            at = start + timedelta(minutes=37 * n % 1380)
            plays.append((room, track, at))
            if n % 2 == 0:
                sessions.append(
                    ListeningSession(
                        room=room,
                        session_key=f"s{day}-{n}",
                        started_at=at,
                        ended_at=at + timedelta(minutes=10 + n % 40),
                        last_seen_at=at,
                    )
                )
            impressions_record_at(
                room_ids=[r.id for r in rooms], surface="directory", viewer=f"v{n}", at=at
            )
    entries = QueueEntry.objects.bulk_create(
        QueueEntry(room=room, track=track, status="played") for room, track, _ in plays
    )
    Play.objects.bulk_create(
        Play(room=room, track=track, entry=entry, started_at=at, listeners=3)
        for entry, (room, track, at) in zip(entries, plays, strict=True)
    )
    ListeningSession.objects.bulk_create(sessions)
    rollups.rollup_all(extra_hours=impressions_flush())


def test_analyst_sees_the_dashboard_charts(signed_in, make_user, tmp_path):
    label = Label.objects.create(name="Northern Lights Records", slug="northern")
    analyst = make_user("ana")
    Membership.objects.create(label=label, user=analyst, role=Role.ANALYST)
    _history(label)

    page = signed_in(viewport={"width": 1280, "height": 1400})
    page.goto("/label/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", "pw-ana")
    page.click("input[type=submit]")
    page.click("a[href='/label/analytics/']")  # the portal's index links to the dashboard
    page.wait_for_selector(".an-chart.an-drawn")
    assert page.locator(".an-chart").count() == 4
    page.wait_for_function(
        "document.querySelectorAll('.an-chart.an-drawn').length === 4", timeout=10000
    )

    drawn = page.evaluate(
        """() => [...document.querySelectorAll('.an-chart')].map(fig => {
            const line = fig.querySelector('path.an-line');
            const box = line ? line.getBBox() : {width: 0, height: 0};
            return {
              title: fig.querySelector('figcaption').textContent.trim(),
              points: (line && line.getAttribute('d').match(/[ML]/g) || []).length,
              width: box.width, height: box.height,
              ticks: fig.querySelectorAll('text.an-tick').length,
            };
        })"""
    )
    for chart in drawn:
        # 21 days of data in the default 28-day window: a line across the chart, not flat.
        assert chart["points"] == 28, chart
        assert chart["width"] > 300 and chart["height"] > 20, chart
        assert chart["ticks"] >= 6, chart
    assert {c["title"].split(" (")[0] for c in drawn} >= {"Plays", "Listening minutes"}
    plays = page.locator(".an-total", has_text="Plays").first.locator("strong").inner_text()
    assert int(plays.replace(",", "")) == Play.objects.count()
    assert "Borealis" in page.inner_text("#top-tracks + table")

    # The rendered pixels of the first chart are not blank: its line colour is on screen.
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    chart_png = page.locator(".an-chart").first.screenshot()
    assert _coloured_pixels(chart_png) > 500
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SHOTS / "dashboard.png")


def _coloured_pixels(png: bytes) -> int:
    """Pixels that are clearly coloured (not grey): the chart's line and area."""
    import io

    from PIL import Image

    raw = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    pixels = zip(raw[0::3], raw[1::3], raw[2::3], strict=True)
    return sum(1 for r, g, b in pixels if max(r, g, b) - min(r, g, b) > 60)
