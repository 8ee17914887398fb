import pytest

from labels.models import Label


@pytest.fixture
def label(db):
    return Label.objects.create(name="Acme Records", slug="acme")


@pytest.fixture
def other_label(db):
    return Label.objects.create(name="Other Music", slug="other")
