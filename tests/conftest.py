"""Shared fixtures. Tests run on whatever DATABASE_URL / REDIS_URL say (PostgreSQL and Redis in
CI); a test that needs one of them is skipped, with the reason shown, only when it is not set."""

import pytest
from django.conf import settings

requires_postgres = pytest.mark.skipif(
    not settings.IS_POSTGRES, reason="needs PostgreSQL: set DATABASE_URL=postgres://..."
)
requires_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs Redis: set REDIS_URL=redis://..."
)


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    """Uploaded files of a test go to its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _impressions_dir(tmp_path, settings):
    """Without Redis, impressions spool to files: each test gets its own folder."""
    settings.IMPRESSIONS_DIR = tmp_path / "impressions"
    return settings.IMPRESSIONS_DIR


@pytest.fixture(autouse=True)
def _impressions_buffer(settings):
    """Pages one test buffered for Redis are dropped, not sent into the next test's Redis (the
    teardown runs before the test's settings are undone, and waits for a send in flight)."""
    from rooms.impressions import impressions_discard

    impressions_discard()
    yield
    impressions_discard()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, **extra):
        return django_user_model.objects.create_user(
            username=username, password="pw-" + username, email=f"{username}@example.com", **extra
        )

    return make
