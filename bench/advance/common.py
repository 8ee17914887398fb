"""Shared by the advance bench's orchestrator and its worker processes."""

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
SLUG_PREFIX = "bench-adv-"
TABLE = "bench_advance"


def django_setup() -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def ensure_table() -> None:
    """The bench's own record of every winning advance: who won, and the winner's clock when
    its transaction committed. Not a model: it exists only in bench databases."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                id bigserial PRIMARY KEY,
                room_id integer NOT NULL,
                prev_entry_id bigint,
                called_ms bigint NOT NULL,
                committed_ms bigint NOT NULL,
                pid integer NOT NULL,
                via text NOT NULL
            )"""
        )
