"""The operators' /admin/: Roomtone staff only, every label's data, every table browsable."""

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

OURS = ("labels", "catalog", "rooms")
MODELS = sorted(
    (m for m in admin.site._registry if m._meta.app_label in OURS), key=lambda m: m._meta.label
)


def test_every_model_of_our_apps_is_on_the_operators_site():
    from django.apps import apps

    for app in OURS:
        for model in apps.get_app_config(app).get_models():
            assert model in admin.site._registry, model._meta.label


def test_label_staff_are_not_operators(client, world):
    client.force_login(world.owner_a)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", MODELS, ids=[m._meta.label for m in MODELS])
def test_operator_pages_open(client, world, make_user, model):
    client.force_login(make_user("ops", is_staff=True, is_superuser=True))
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    response = client.get(reverse(f"{prefix}_changelist"), {"q": "a"})
    assert response.status_code == 200
    assert client.get(reverse(f"{prefix}_add")).status_code == 200
    obj = world.b.objects.get(model)
    if obj is not None:
        page = client.get(reverse(f"{prefix}_change", args=[obj.pk]))
        assert page.status_code == 200  # unscoped: label B's object is right there
