"""Every model admin and custom page of the label portal, walked as four people.

(a) owner of label A, (b) analyst of label A, (c) manager of label B, (d) a fan with no label,
over objects of both labels. The admins come from ``label_site._registry`` and the custom pages
from the site's URL patterns, so a newly registered admin or page is walked (or fails the first
tests until it is) without anyone editing this file.
"""

import json

import pytest
from django.contrib import admin
from django.contrib.admin.filters import RelatedOnlyFieldListFilter
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, reverse

from labels.admin import label_site
from labels.checks import label_portal_scoped
from labels.scoped_admin import LabelScopedAdmin, LabelScopedInline
from tests.labels.conftest import TOKENS

pytestmark = pytest.mark.django_db

ADMINS = sorted(label_site._registry.items(), key=lambda item: item[0]._meta.label)
ADMIN_IDS = [model._meta.label for model, _ in ADMINS]
ACTORS = ["owner_a", "analyst_a", "manager_b", "fan"]
HOME = {"owner_a": "A", "analyst_a": "A", "manager_b": "B"}
OTHER = {"A": "B", "B": "A"}
ROLE = {"owner_a": "owner", "analyst_a": "analyst", "manager_b": "manager"}

# Pages of the portal besides the standard ones of each model admin, each walked below.
CUSTOM_URL_NAMES = {
    "switch_label",
    "view_on_site",
    "invite_accept",
    "catalog_track_import",
    "catalog_track_import_status",
}
SITE_URL_NAMES = {
    "index", "login", "logout", "password_change", "password_change_done", "autocomplete",
    "jsi18n", "app_list",
}  # fmt: skip
MODEL_URL_SUFFIXES = ("_changelist", "_add", "_history", "_delete", "_change")


def assert_all_scoped(registry) -> None:
    for model, model_admin in registry.items():
        assert isinstance(model_admin, LabelScopedAdmin), (
            f"{model._meta.label} is on the label portal without LabelScopedAdmin"
        )
        for inline in model_admin.inlines:
            assert issubclass(inline, LabelScopedInline), f"{inline.__name__} is not scoped"


def url(model, view, *args):
    return reverse(f"label:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def login(client, world, actor):
    client.force_login(getattr(world, actor))
    return client


def snapshot(obj):
    fresh = type(obj)._default_manager.filter(pk=obj.pk).first()
    return fresh and {k: str(v) for k, v in model_to_dict(fresh).items()}


def can_view(model_admin, actor):
    return ROLE.get(actor) in model_admin.view_roles | model_admin.edit_roles


def can_edit(model_admin, actor):
    return ROLE.get(actor) in model_admin.edit_roles


def relation_form_fields(model_admin, request):
    form = model_admin.get_form(request, None)
    for name, form_field in form.base_fields.items():
        qs = getattr(form_field, "queryset", None)
        if qs is not None:
            yield name, form_field, qs.model


# -- the walk covers everything ----------------------------------------------------------------
def test_every_portal_admin_extends_the_scoped_base():
    assert ADMINS, "nothing registered on the label portal"
    assert_all_scoped(label_site._registry)
    assert label_portal_scoped() == []


def test_every_portal_model_has_objects_in_the_world(world):
    for model, _ in ADMINS:
        assert model in world.a.objects and model in world.b.objects, (
            f"add {model._meta.label} to tests/labels/conftest.py so the matrix walks it"
        )


def test_an_unscoped_admin_fails_the_walk_and_the_checks():
    from catalog.models import Genre

    class Plain(admin.ModelAdmin):
        pass

    registry = dict(label_site._registry)
    registry[Genre] = Plain(Genre, label_site)
    with pytest.raises(AssertionError, match="without LabelScopedAdmin"):
        assert_all_scoped(registry)
    label_site._registry[Genre] = registry[Genre]
    try:
        assert [e.id for e in label_portal_scoped()] == ["labels.E001"]
    finally:
        del label_site._registry[Genre]
    with pytest.raises(Exception, match="must extend LabelScopedAdmin"):
        label_site.register(Genre, Plain)
    assert Genre not in label_site._registry


def test_a_subclass_cannot_override_the_scoped_queryset():
    with pytest.raises(TypeError, match="get_queryset"):

        class Sneaky(LabelScopedAdmin):
            label_path = "label"

            def get_queryset(self, request):
                return self.model.objects.all()

    with pytest.raises(TypeError, match="has_change_permission"):

        class Lenient(LabelScopedAdmin):
            label_path = "label"

            def has_change_permission(self, request, obj=None):
                return True


def test_relation_filters_must_be_related_only():
    class Leaky(LabelScopedAdmin):
        label_path = "label"
        list_filter = ("room",)

    from rooms.models import Campaign

    registry = label_site._registry
    saved = registry[Campaign]
    registry[Campaign] = Leaky(Campaign, label_site)
    try:
        assert [e.id for e in label_portal_scoped()] == ["labels.E003"]
    finally:
        registry[Campaign] = saved


def _walk_urls(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk_urls(p.url_patterns, prefix)
        elif isinstance(p, URLPattern) and p.name:
            yield p.name


def test_every_custom_portal_url_is_walked():
    names = set(_walk_urls(label_site.get_urls()))
    custom = {n for n in names if n not in SITE_URL_NAMES and not n.endswith(MODEL_URL_SUFFIXES)}
    assert custom == CUSTOM_URL_NAMES, "walk new portal pages in test_permission_matrix.py"


# -- per model admin, per person -----------------------------------------------------------
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=ADMIN_IDS)
def test_changelist_shows_only_the_label(client, world, model, model_admin, actor):
    login(client, world, actor)
    response = client.get(url(model, "changelist"))
    if actor == "fan":
        assert response.status_code == 302 and "/label/login/" in response["Location"]
        return
    if not can_view(model_admin, actor):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    home, other = HOME[actor], OTHER[HOME[actor]]
    body = response.content.decode()
    shown = {o.pk for o in response.context["cl"].result_list}
    assert world.side(home).obj(model).pk in shown
    assert world.side(other).obj(model).pk not in shown
    assert TOKENS[other] not in body.lower()


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=ADMIN_IDS)
def test_other_labels_object_is_not_found(client, world, model, model_admin, actor):
    login(client, world, actor)
    other = world.side(OTHER.get(HOME.get(actor), "A")).obj(model)
    before = snapshot(other)
    pages = [
        ("get", url(model, "change", other.pk)),
        ("get", url(model, "history", other.pk)),
        ("get", url(model, "delete", other.pk)),
        ("post", url(model, "change", other.pk)),
        ("post", url(model, "delete", other.pk)),
    ]
    for method, page in pages:
        data = {"post": "yes", "name": "x", "title": "x", "role": "owner", "email": "x@x.io"}
        response = getattr(client, method)(page, data) if method == "post" else client.get(page)
        if actor == "fan":
            assert response.status_code == 302 and "/label/login/" in response["Location"]
        elif "history" in page:
            assert response.status_code == 404, page  # Django looks the object up first
        elif (method == "post" or "delete" in page) and not can_edit(model_admin, actor):
            assert response.status_code == 403, page
        elif not can_view(model_admin, actor):
            assert response.status_code == 403, page
        else:
            assert response.status_code == 404, page
    ct = ContentType.objects.get_for_model(model)
    response = client.get(reverse("label:view_on_site", args=[ct.pk, other.pk]))
    assert response.status_code in ((302,) if actor == "fan" else (404,))
    if actor == "fan":
        assert "/label/login/" in response["Location"]
    assert snapshot(other) == before


@pytest.mark.parametrize("actor", ["owner_a", "analyst_a"])
@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=ADMIN_IDS)
def test_own_objects_editable_by_editors_only(client, world, model, model_admin, actor):
    login(client, world, actor)
    own = world.a.obj(model)
    before = snapshot(own)
    change = client.get(url(model, "change", own.pk))
    history = client.get(url(model, "history", own.pk))
    if not can_view(model_admin, actor):
        assert change.status_code == history.status_code == 403
    else:
        assert change.status_code == history.status_code == 200
        assert change.context["has_change_permission"] == can_edit(model_admin, actor)
    if can_edit(model_admin, actor):
        return
    assert client.post(url(model, "change", own.pk), {"name": "x"}).status_code == 403
    assert client.post(url(model, "delete", own.pk), {"post": "yes"}).status_code == 403
    assert client.get(url(model, "add")).status_code == 403
    assert client.post(url(model, "add"), {"name": "x"}).status_code == 403
    action = client.post(
        url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [own.pk], "post": "yes"},
    )
    assert action.status_code in (200, 302, 403)
    assert snapshot(own) == before


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=ADMIN_IDS)
def test_bulk_action_ignores_other_labels_ids(client, world, model, model_admin):
    if not model_admin.get_actions:
        return
    login(client, world, "owner_a")
    other = world.b.obj(model)
    client.post(
        url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"},
    )
    assert type(other).objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=ADMIN_IDS)
def test_add_rejects_other_labels_ids(client, rf, world, model, model_admin):
    login(client, world, "owner_a")
    request = rf.get("/")
    request.user, request.session = world.owner_a, client.session
    if not model_admin.has_add_permission(request):
        assert client.post(url(model, "add"), {}).status_code == 403
        return
    count = model.objects.count()
    checked = 0
    for name, form_field, target in relation_form_fields(model_admin, request):
        foreign = world.b.objects.get(target)
        if foreign is None and target._meta.label == "labels.Label":
            foreign = world.b.label
        if foreign is None:
            continue  # shared reference data (genres) every label may choose
        response = client.post(url(model, "add"), {name: [str(foreign.pk)]})
        assert response.status_code == 200, name
        errors = response.context["adminform"].form.errors
        assert name in errors and "valid choice" in str(errors[name]), (name, errors)
        choices = {str(pk) for pk in form_field.queryset.values_list("pk", flat=True)}
        assert str(foreign.pk) not in choices
        checked += 1
    assert model.objects.count() == count
    assert (
        checked
        or not list(relation_form_fields(model_admin, request))
        or model._meta.label
        in {
            "catalog.Track"  # only genres, which are shared
        }
    )


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=ADMIN_IDS)
def test_querystring_lookups_cannot_reach_other_labels(client, world, model, model_admin):
    login(client, world, "owner_a")
    if not can_view(model_admin, "owner_a"):
        return
    changelist = url(model, "changelist")
    root = model_admin.label_path.split("__")[0]
    for lookup in (f"{root}__id__exact", f"{root}__id", root, f"{model_admin.label_path}__name"):
        response = client.get(changelist, {lookup: world.b.label.pk})
        assert response.status_code == 400, lookup
    for item in model_admin.list_filter:
        if not isinstance(item, tuple) or not issubclass(item[1], RelatedOnlyFieldListFilter):
            continue
        field = model._meta.get_field(item[0])
        target = field.related_model
        theirs, ours = world.b.objects.get(target), world.a.objects.get(target)
        if theirs is not None:
            lookup = f"{item[0]}__id__exact"
            assert client.get(changelist, {lookup: theirs.pk}).status_code == 400, lookup
            assert client.get(changelist, {lookup: ours.pk}).status_code == 200, lookup
    # Reverse relations and deep paths are not filters the portal offers.
    for rel in model._meta.related_objects:
        assert client.get(changelist, {f"{rel.name}__id": 1}).status_code == 400


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=ADMIN_IDS)
def test_filters_offer_only_the_labels_objects(client, world, model, model_admin):
    login(client, world, "owner_a")
    if not can_view(model_admin, "owner_a"):
        return
    response = client.get(url(model, "changelist"))
    for spec in response.context["cl"].filter_specs:
        for choice in spec.choices(response.context["cl"]):
            assert TOKENS["B"] not in str(choice.get("display", "")).lower()


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=ADMIN_IDS)
def test_autocomplete_is_scoped(client, world, model, model_admin, actor):
    login(client, world, actor)
    for field_name in model_admin.autocomplete_fields:
        field = model._meta.get_field(field_name)
        target = field.related_model
        response = client.get(
            reverse("label:autocomplete"),
            {
                "app_label": model._meta.app_label,
                "model_name": model._meta.model_name,
                "field_name": field_name,
                "term": "",
            },
        )
        if actor == "fan":
            assert response.status_code == 302
            continue
        if not can_view(label_site._registry[target], actor):
            assert response.status_code == 403
            continue
        assert response.status_code == 200
        ids = {int(r["id"]) for r in json.loads(response.content)["results"]}
        home, other = HOME[actor], OTHER[HOME[actor]]
        assert world.side(home).obj(target).pk in ids
        assert world.side(other).obj(target).pk not in ids


def test_fans_never_enter_the_portal(client, world):
    login(client, world, "fan")
    for page in ("label:index", "label:password_change"):
        response = client.get(reverse(page))
        assert response.status_code == 302 and "/label/login/" in response["Location"]
    response = client.get(reverse("label:login"))
    assert response.status_code == 200  # says the account has no access; offers another login
    client.logout()
    response = client.post(reverse("label:login"), {"username": "fan", "password": "pw-fan"})
    assert response.status_code == 200 and "not on the staff" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("actor", ACTORS)
def test_custom_pages(client, world, actor):
    login(client, world, actor)
    # The switcher: only to a label the user sits at.
    response = client.post(reverse("label:switch_label"), {"label": world.b.label.pk})
    if actor == "fan":
        assert response.status_code == 302 and "/label/login/" in response["Location"]
    else:
        assert response.status_code == (302 if HOME[actor] == "B" else 404)
    # The import page: editors only.
    response = client.get(reverse("label:catalog_track_import"))
    expected = {"owner_a": 200, "analyst_a": 403, "manager_b": 200, "fan": 302}[actor]
    assert response.status_code == expected
    # Another label's (or an unknown) import job looks the same: not found.
    response = client.get(reverse("label:catalog_track_import_status", args=["f" * 32]))
    assert response.status_code == {"owner_a": 404, "analyst_a": 403, "manager_b": 404}.get(
        actor, 302
    )
    # invite_accept is walked in test_staff.py: it is token-based and open to any signed-in user.


def test_label_owned_models_are_all_on_the_portal():
    """A label-owned model of labels, catalog or rooms missing from the portal is a gap.

    (analytics decides for its own models and registers them itself.)"""
    from django.apps import apps

    from labels.models import Label

    owned = {
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in ("labels", "catalog", "rooms")
        and any(
            isinstance(f, models.ForeignKey) and f.related_model is Label
            for f in m._meta.get_fields()
        )
    }
    registered = {m._meta.label for m in label_site._registry}
    assert owned - registered == set(), owned - registered
