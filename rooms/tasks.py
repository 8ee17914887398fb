"""Periodic room work for Celery beat (the schedule lives in config/settings.py)."""

from celery import shared_task

from rooms.playback import playback_sweep
from rooms.presence import sessions_close_stale
from rooms.services.dj import dj_release_away
from rooms.services.premieres import premieres_start_due


@shared_task(name="rooms.playback_sweep", ignore_result=True)
def playback_sweep_task() -> int:
    """Switch in premieres about to start, and advance rooms whose track ended, that no live
    process timer handled."""
    return premieres_start_due() + playback_sweep()


@shared_task(name="rooms.presence_sweep", ignore_result=True)
def presence_sweep_task() -> dict:
    """Close sessions of dead processes; release DJ seats whose grace ran out."""
    return {"sessions_closed": sessions_close_stale(), "seats_released": dj_release_away()}


# The entries config/settings.py merges into CELERY_BEAT_SCHEDULE (seconds).
# `expires` drops sweeps that waited in the broker while no worker ran: the next one covers them.
BEAT_SCHEDULE = {
    "rooms-playback-sweep": {
        "task": "rooms.playback_sweep",
        "schedule": 2.0,
        "options": {"expires": 4},
    },
    "rooms-presence-sweep": {
        "task": "rooms.presence_sweep",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
}
