import pytest

from rooms import impressions


@pytest.fixture(autouse=True)
def _impressions_clean(settings, tmp_path):
    """Each test starts with an empty in-process buffer and its own reach folder."""
    settings.IMPRESSIONS_DIR = tmp_path / "impressions"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    impressions._buffer = impressions._Buffer()
    yield
    impressions._buffer = impressions._Buffer()


@pytest.fixture
def world(make_user):
    from tests.analytics.synth import World

    return World.build(make_user)
