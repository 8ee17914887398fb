"""The environment picks the backends: nothing set is one box; REDIS_URL, DATABASE_URL scale out."""

import json

from tests.foundation.helpers import run_python

PROBE = """
import json, django
django.setup()
from django.conf import settings
from config.celery import app
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "broker": app.conf.broker_url,
    "debug": settings.DEBUG,
    "media_root": str(settings.MEDIA_ROOT),
}))
"""


def probe(**env) -> dict:
    result = run_python(PROBE, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_nothing_set_is_one_box():
    got = probe()
    assert got["db"] == "django.db.backends.sqlite3"
    assert got["db_name"].endswith("var/roomtone.sqlite3")
    assert got["layer"] == "channels.layers.InMemoryChannelLayer"
    assert got["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert got["broker"] == "filesystem://"
    assert got["debug"] is False


def test_redis_url_switches_layer_cache_and_broker():
    got = probe(REDIS_URL="redis://127.0.0.1:6379/9")
    assert got["layer"].startswith("channels_redis.")
    assert got["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert got["broker"] == "redis://127.0.0.1:6379/9"
    assert got["db"] == "django.db.backends.sqlite3"


def test_core_channel_layer_on_request():
    got = probe(REDIS_URL="redis://127.0.0.1:6379/9", CHANNEL_LAYER_BACKEND="core")
    assert got["layer"] == "channels_redis.core.RedisChannelLayer"


def test_database_url_postgres_uses_psycopg():
    got = probe(
        DATABASE_URL="postgres://someone@db.example:5432/roomtone", MEDIA_ROOT="/srv/m", DEBUG="0"
    )
    assert got["db"] == "django.db.backends.postgresql"
    assert got["db_name"] == "roomtone"
    assert got["media_root"] == "/srv/m"
    assert got["debug"] is False


def test_debug_accepts_only_booleans():
    assert probe(DEBUG="true")["debug"] is True
    result = run_python(PROBE, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be true or false, not 'maybe'" in result.stderr
