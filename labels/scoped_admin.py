"""The one base class every label-owned model admin in the portal goes through.

The label filter lives in methods subclasses may not define (``FINAL_METHODS``): a subclass that
tries gets a TypeError at import, so scoping cannot be forgotten or bypassed by accident. What a
subclass may still want to adjust goes through hooks whose results are scoped again afterwards.

Choices for foreign keys and many-to-many fields come from the *target* model's portal admin, so
an id of another label's object posted to any form fails as an invalid choice; the Label itself
offers only the current label, users only the label's staff, and a short list of shared models
(``GLOBAL_CHOICE_MODELS``) every label may pick from. Anything else offers nothing (fail closed).
"""

from django.contrib import admin
from django.contrib.admin.filters import RelatedOnlyFieldListFilter
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404

from labels import scoping
from labels.models import Label, Membership

# Shared reference data: every label may choose from all of it.
GLOBAL_CHOICE_MODELS = frozenset({"catalog.genre"})
# What a query-string filter on a relation may say after the field name.
_RELATION_FILTER_TAILS = frozenset({"", "id", "pk", "exact", "id__exact", "pk__exact", "isnull"})

FINAL_METHODS = (
    "get_queryset",
    "get_object",
    "get_search_results",
    "lookup_allowed",
    "has_module_permission",
    "has_view_permission",
    "has_change_permission",
    "has_add_permission",
    "has_delete_permission",
    "formfield_for_foreignkey",
    "formfield_for_manytomany",
    "save_form",
    "_get_obj_does_not_exist_redirect",
)


def related_only(field_name: str):
    """A list filter that offers only related objects the scoped list actually uses."""
    return (field_name, RelatedOnlyFieldListFilter)


def model_key(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def label_staff(label_id):
    user_model = get_user_model()
    staff = Membership.objects.filter(label_id=label_id).values("user_id")
    return user_model._default_manager.filter(pk__in=staff, is_active=True)


class _Scoping:
    """Shared by model admins and inlines: label resolution and scoped choices."""

    label_path: str = ""
    view_roles = scoping.ALL_ROLES
    edit_roles = scoping.EDIT_ROLES

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        overridden = sorted(name for name in FINAL_METHODS if name in cls.__dict__)
        if overridden and cls.__module__ != __name__:
            raise TypeError(
                f"{cls.__qualname__} may not define {', '.join(overridden)}: label scoping lives "
                "there. Use the scope_queryset / narrow_choices / allow hooks instead."
            )

    # -- hooks for subclasses --------------------------------------------------------------
    def scope_queryset(self, request, queryset):
        """Narrow or annotate the already label-scoped queryset; the label filter is re-applied."""
        return queryset

    def narrow_choices(self, db_field, request, queryset):
        """Narrow the scoped choices of a relation field further."""
        return queryset

    def allow(self, request, action: str, obj) -> bool:
        """Extra refusals on top of role and label checks ("view", "change", "add", "delete")."""
        return True

    # -- scoping ---------------------------------------------------------------------------
    def label_filter(self, request) -> dict:
        label_id = getattr(scoping.current_label(request), "pk", None)
        return {self.label_path: label_id} if label_id else {"pk__in": []}

    def scoped(self, request, queryset):
        return queryset.filter(**self.label_filter(request))

    def label_id_of(self, obj):
        *hops, last = self.label_path.split(LOOKUP_SEP)
        value = obj
        for hop in hops:
            value = getattr(value, hop, None)
            if value is None:
                return None
        return getattr(value, f"{last}_id", None)

    def in_scope(self, request, obj) -> bool:
        if obj is None:
            return True
        label = scoping.current_label(request)
        return label is not None and self.label_id_of(obj) == label.pk

    def choices_for(self, request, model):
        """Objects of `model` the current label may point at."""
        label = scoping.current_label(request)
        manager = model._default_manager
        if label is None:
            return manager.none()
        if model is Label:
            return manager.filter(pk=label.pk)
        if model is get_user_model():
            return label_staff(label.pk)
        if model_key(model) in GLOBAL_CHOICE_MODELS:
            return manager.all()
        target = self.admin_site._registry.get(model)
        if isinstance(target, LabelScopedAdmin):
            return target.get_queryset(request)
        return manager.none()

    def _scoped_choice_kwargs(self, db_field, request, kwargs):
        scoped = self.choices_for(request, db_field.remote_field.model)
        narrowed = self.narrow_choices(db_field, request, scoped)
        kwargs["queryset"] = narrowed.filter(pk__in=scoped.values("pk"))
        return kwargs

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = self._scoped_choice_kwargs(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs = self._scoped_choice_kwargs(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _role_allows(self, request, action: str, obj) -> bool:
        roles = self.view_roles | self.edit_roles if action == "view" else self.edit_roles
        return (
            scoping.has_role(request, roles)
            and self.in_scope(request, obj)
            and self.allow(request, action, obj)
        )


class LabelScopedAdmin(_Scoping, admin.ModelAdmin):
    """Base for every model admin on the label portal. Declare ``label_path``."""

    def __init__(self, model, admin_site):
        if not self.label_path:
            raise TypeError(f"{type(self).__qualname__} must declare label_path")
        super().__init__(model, admin_site)

    def get_queryset(self, request):
        base = self.scoped(request, super().get_queryset(request))
        return self.scoped(request, self.scope_queryset(request, base))

    def get_object(self, request, object_id, from_field=None):
        return super().get_object(request, object_id, from_field)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return self.scoped(request, queryset), may_have_duplicates

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another label's object must look exactly like one that does not exist.
        raise Http404("No such object.")

    def lookup_allowed(self, lookup, value, request=None):
        parts = lookup.split(LOOKUP_SEP)
        try:
            field = self.model._meta.get_field(parts[0])
        except FieldDoesNotExist:
            return super().lookup_allowed(lookup, value, request)
        if not field.is_relation:
            return super().lookup_allowed(lookup, value, request)
        # The label is implied by the session; naming one is how another label is reached.
        if field.related_model is Label:
            return False
        tail = LOOKUP_SEP.join(parts[1:])
        declared = {f[0] if isinstance(f, (list, tuple)) else f for f in self.list_filter}
        if parts[0] not in declared or tail not in _RELATION_FILTER_TAILS or request is None:
            return False
        if tail == "isnull":
            return True
        try:
            return self.choices_for(request, field.related_model).filter(pk=value).exists()
        except (ValueError, TypeError, ValidationError):
            return False

    def has_module_permission(self, request):
        return scoping.has_role(request, self.view_roles | self.edit_roles)

    def has_view_permission(self, request, obj=None):
        return self._role_allows(request, "view", obj)

    def has_change_permission(self, request, obj=None):
        return self._role_allows(request, "change", obj)

    def has_add_permission(self, request):
        return self._role_allows(request, "add", None)

    def has_delete_permission(self, request, obj=None):
        return self._role_allows(request, "delete", obj)

    def save_form(self, request, form, change):
        obj = super().save_form(request, form, change)
        label = scoping.current_label(request)
        if self.label_path == "label" and not change:
            obj.label = label
        # Belt and braces: whatever the form did, the object must still belong to this label.
        if label is None or self.label_id_of(obj) != label.pk:
            raise PermissionDenied
        return obj


class LabelScopedInline(_Scoping, admin.TabularInline):
    """Base for inlines inside portal admins; ``label_path`` is relative to the inline's model."""

    extra = 0

    def get_queryset(self, request):
        base = self.scoped(request, super().get_queryset(request))
        return self.scoped(request, self.scope_queryset(request, base))

    def has_view_permission(self, request, obj=None):
        return self._role_allows(request, "view", None)

    def has_change_permission(self, request, obj=None):
        return self._role_allows(request, "change", None)

    def has_add_permission(self, request, obj=None):
        return self._role_allows(request, "add", None)

    def has_delete_permission(self, request, obj=None):
        return self._role_allows(request, "delete", None)
