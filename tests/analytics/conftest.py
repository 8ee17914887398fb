import pytest

from rooms import impressions


@pytest.fixture(autouse=True)
def _impressions_clean(settings, tmp_path):
    """Each test has its own spool and reach folder (Redis is emptied by tests/conftest.py)."""
    settings.IMPRESSIONS_DIR = tmp_path / "impressions"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert impressions._dir() == tmp_path / "impressions"


@pytest.fixture
def world(make_user):
    from tests.analytics.synth import World

    return World.build(make_user)
