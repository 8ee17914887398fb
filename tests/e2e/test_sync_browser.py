"""Two pages in one room claim the same position in the same track at the same instant.

The pages' own sync figures are not trusted here: each page's audio position is sampled with the
page's `performance.timeOrigin + performance.now()`, that clock is mapped to this test's clock
from the round trips of the samples (the fastest ones bound the error), and both positions are
extrapolated to one common instant.
"""

import statistics
import time

import pytest

from catalog.models import Track
from rooms.services import queue_add, room_create
from tests.e2e.conftest import write_wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The position the page claims (whichever audio engine plays it), stamped with the page's clock.
SAMPLE_JS = """() => {
  const t = performance.timeOrigin + performance.now();
  const sync = window.roomtone.sync();
  const playing = window.roomtone.state().now_playing;
  return {
    t: t,
    position: sync.actual_s,
    rate: sync.rate || 1,
    playing: sync.playing,
    entry: playing && playing.entry_id,
  };
}"""


@pytest.fixture
def track(_media_root):
    duration = write_wav(_media_root / "audio/sync/0.wav", seconds=60, freq=440)
    return Track.objects.create(
        title="Metronome",
        artist_names="Click Track",
        duration_ms=duration,
        audio="audio/sync/0.wav",
        audio_mime="audio/wav",
    )


def sample(page) -> dict:
    """One position with the page's clock, and this test's clock just before and after."""
    before = time.time() * 1000
    data = page.evaluate(SAMPLE_JS)
    after = time.time() * 1000
    return {**data, "before": before, "after": after}


def clock_offset(samples: list[dict]) -> float:
    """Page clock − test clock, from the samples with the shortest round trips."""
    fastest = sorted(samples, key=lambda s: s["after"] - s["before"])[:3]
    return statistics.mean(s["t"] - (s["before"] + s["after"]) / 2 for s in fastest)


def position_at(sample_: dict, offset: float, instant: float) -> float:
    """The sample's position (s) carried forward at its rate to `instant` (test clock, ms)."""
    taken = sample_["t"] - offset
    return sample_["position"] + (instant - taken) / 1000 * sample_["rate"]


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_two_pages_claim_the_same_position(signed_in, make_user, track, transport):
    ann, bob = make_user("ann"), make_user("bob")
    room = room_create(owner=ann, name=f"Sync {transport}")
    queue_add(room=room, user=ann, track_id=track.id)
    a, b = signed_in(ann), signed_in(bob)
    query = "?transport=sse" if transport == "sse" else ""
    a.goto(f"/rooms/{room.slug}/{query}")
    a.wait_for_timeout(1200)  # the second fan joins later, mid-track
    b.goto(f"/rooms/{room.slug}/{query}")
    for page in (a, b):
        try:
            page.wait_for_function(
                "(() => { const s = window.roomtone && window.roomtone.sync();"
                " return s && s.playing && s.drift_ms !== null && Math.abs(s.drift_ms) < 30; })()",
                timeout=30000,
            )
        except Exception:
            raise AssertionError(f"not in sync: {page.evaluate('window.roomtone.sync()')}")
        assert page.evaluate("window.roomtone.sync().transport") == transport
    a.wait_for_timeout(1500)  # let the rate nudges settle

    spreads = []
    for _ in range(12):
        pair = [sample(a), sample(b)]
        assert pair[0]["playing"] and pair[1]["playing"], pair
        assert pair[0]["entry"] == pair[1]["entry"] is not None
        spreads.append(pair)
        a.wait_for_timeout(150)
    offsets = [clock_offset([p[i] for p in spreads]) for i in (0, 1)]
    differences = []
    for pa, pb in spreads:
        instant = (pa["after"] + pb["before"]) / 2
        differences.append(
            (position_at(pa, offsets[0], instant) - position_at(pb, offsets[1], instant)) * 1000
        )
    median = statistics.median(differences)
    assert abs(median) < 50, differences
    assert max(abs(d) for d in differences) < 100, differences
