"""Put a room on a freshly started track and print where it stands, as JSON.

    python -m bench.sync.prepare --seconds 150

Runs in its own process with the bench's DATABASE_URL/REDIS_URL: the room `sync-bench` (created
if missing, unlisted, no autofill) gets a bench track (synthesized by catalog/synth.py with its
sync marks, stored through catalog.services.track_attach_audio, so it is served like any upload)
queued and started with `room_advance`, which starts it START_LEAD_MS from now.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.files.base import ContentFile  # noqa: E402

from catalog import synth  # noqa: E402
from catalog.models import Track  # noqa: E402
from catalog.services import track_attach_audio  # noqa: E402
from rooms.models import Playback, QueueEntry, Room  # noqa: E402
from rooms.playback import room_advance  # noqa: E402

SLUG = "sync-bench"
SEED = 4242


def bench_track(seconds: int) -> Track:
    title = f"Sync bench {seconds}s"
    track = Track.objects.filter(title=title).exclude(audio="").first()
    if track:
        return track
    piece = synth.render(seed=SEED, style="electronic", seconds=seconds)
    track = Track(title=title)
    return track_attach_audio(track=track, upload=ContentFile(piece.wav, name="sync-bench.wav"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=150)
    args = parser.parse_args()
    track = bench_track(args.seconds)
    room, _ = Room.objects.get_or_create(
        slug=SLUG,
        defaults={
            "name": "Sync bench",
            "visibility": Room.Visibility.UNLISTED,
            "autofill": False,
        },
    )
    QueueEntry.objects.filter(room=room, status=QueueEntry.Status.QUEUED).update(
        status=QueueEntry.Status.REMOVED
    )
    entry = QueueEntry.objects.create(room=room, track=track, status=QueueEntry.Status.QUEUED)
    playback, _ = Playback.objects.get_or_create(room=room)
    if not room_advance(room_id=room.id, expected_entry_id=playback.current_entry_id, skipped=True):
        raise SystemExit("the room did not advance to the bench track")
    playback.refresh_from_db()
    if playback.current_entry_id != entry.id:
        raise SystemExit(f"the room plays entry {playback.current_entry_id}, not {entry.id}")
    json.dump(
        {
            "slug": room.slug,
            "path": room.get_absolute_url(),
            "started_at_ms": playback.started_at_ms,
            "duration_ms": track.duration_ms,
            "marks_ms": synth.mark_times_ms(track.duration_ms),
            "audio_url": track.audio.url,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
