"""GET /healthz: the state of the database, the cache and the channel layer."""

import asyncio
import logging
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check(fn) -> dict:
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # a health check reports every failure, whatever it is
        # The answer is public: name the failure, keep hosts and users in the log.
        logger.warning("health check %s failed: %s", fn.__name__, exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)


def check_channel_layer() -> None:
    if get_channel_layer() is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip():
        # A private instance of the configured layer: a probe leaves no channel, subscription or
        # lock behind in the layer the server uses, and works from any event loop.
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        try:
            channel = await layer.new_channel("healthz.")
            await layer.send(channel, {"type": "healthz.ping"})
            message = await asyncio.wait_for(layer.receive(channel), timeout=2)
            if message.get("type") != "healthz.ping":
                raise RuntimeError("channel layer returned a different message")
        finally:
            await _close(layer)

    async_to_sync(roundtrip)()


async def _close(layer) -> None:
    if hasattr(layer, "close_pools"):  # channels_redis core (its flush() would delete data)
        await layer.close_pools()
    elif type(layer).__name__ == "RedisPubSubChannelLayer":
        await layer.flush()  # unsubscribes and closes; pub/sub keeps no data to lose


@never_cache
@require_GET
def healthz(request):
    checks = {
        "database": _check(check_database),
        "cache": _check(check_cache),
        "channel_layer": _check(check_channel_layer),
    }
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse({"ok": healthy, "checks": checks}, status=200 if healthy else 503)
