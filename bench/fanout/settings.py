"""Django settings for the fan-out bench app: only what Channels and the room hub read."""

import os

SECRET_KEY = "bench-fanout"  # noqa: S105 - a loopback-only bench
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
DATABASES: dict = {}
USE_TZ = True
REDIS_URL = os.environ.get("REDIS_URL", "")
_prefix = os.environ.get("CHANNEL_PREFIX", "bench")
_backend = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}[os.environ.get("BENCH_LAYER", "pubsub")]
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _backend,
        # The core layer drops past `capacity` per channel; raise it so loss means lateness.
        "CONFIG": {"hosts": [REDIS_URL], "prefix": _prefix}
        | ({"capacity": 1000} if "core" in _backend else {}),
    }
}
# hub-asgi: the hub writing through ASGI send instead of its direct frame writer.
ROOM_HUB_DIRECT_WRITES = os.environ.get("BENCH_HUB_DIRECT", "1") == "1"
ASGI_APPLICATION = "bench.fanout.asgi.application"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
