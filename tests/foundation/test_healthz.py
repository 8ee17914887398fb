"""/healthz: 200 with every dependency's state when all answer, 503 naming the one that does not."""

import json

import pytest
from django.test import override_settings

from tests.foundation.helpers import closed_port, run_manage


@pytest.mark.django_db
def test_healthz_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "cache", "channel_layer"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_healthz_cache_down(client):
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}
    }
    with override_settings(CACHES=caches):
        response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cache"]["ok"] is False
    assert "Connection" in checks["cache"]["error"]
    assert checks["database"]["ok"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "backend",
    ["channels_redis.core.RedisChannelLayer", "channels_redis.pubsub.RedisPubSubChannelLayer"],
)
def test_healthz_channel_layer_down(client, backend):
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    layers = {"default": {"BACKEND": backend, "CONFIG": {"hosts": [dead]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["channel_layer"]["ok"] is False
    assert checks["cache"]["ok"] is True


def test_healthz_database_down():
    # A real server process would see this: PostgreSQL configured but not answering.
    code = (
        "from django.test import Client; r = Client().get('/healthz'); "
        "print(r.status_code); print(r.content.decode())"
    )
    dead = f"postgres://postgres@127.0.0.1:{closed_port()}/roomtone"
    result = run_manage("shell", "-c", code, DATABASE_URL=dead)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "503"
    checks = json.loads(lines[-1])["checks"]
    assert checks["database"]["ok"] is False
    assert "OperationalError" in checks["database"]["error"]
    assert checks["cache"]["ok"] is True
