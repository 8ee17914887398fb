"""System checks: the label portal registers nothing that escapes label scoping."""

from django.contrib.admin.filters import RelatedOnlyFieldListFilter
from django.core import checks
from django.core.exceptions import FieldDoesNotExist


def _relation_filters_scoped(model_admin) -> list[str]:
    bad = []
    for item in model_admin.list_filter:
        name = item[0] if isinstance(item, (list, tuple)) else item
        if not isinstance(name, str):
            continue
        try:
            field = model_admin.model._meta.get_field(name)
        except FieldDoesNotExist:
            continue  # a custom filter's name; Django's own checks report real mistakes
        is_related_only = (
            isinstance(item, (list, tuple))
            and isinstance(item[1], type)
            and issubclass(item[1], RelatedOnlyFieldListFilter)
        )
        if field.is_relation and not is_related_only:
            bad.append(name)
    return bad


@checks.register(checks.Tags.admin, checks.Tags.security)
def label_portal_scoped(app_configs=None, **kwargs):
    from labels.admin import label_site
    from labels.scoped_admin import LabelScopedAdmin, LabelScopedInline

    errors = []
    for model, model_admin in label_site._registry.items():
        name = f"{model._meta.label} on the label portal"
        if not isinstance(model_admin, LabelScopedAdmin):
            errors.append(
                checks.Error(
                    f"{name} is registered with {type(model_admin).__name__}, which does not "
                    "extend LabelScopedAdmin: its pages would show every label's data.",
                    obj=type(model_admin),
                    id="labels.E001",
                )
            )
            continue
        for inline in model_admin.inlines:
            if not issubclass(inline, LabelScopedInline):
                errors.append(
                    checks.Error(
                        f"{name} has inline {inline.__name__}, which does not extend "
                        "LabelScopedInline.",
                        obj=inline,
                        id="labels.E002",
                    )
                )
        for field in _relation_filters_scoped(model_admin):
            errors.append(
                checks.Error(
                    f"{name} filters on relation {field!r} without RelatedOnlyFieldListFilter: "
                    "the filter would list other labels' objects.",
                    hint=f"Use labels.admin.related_only({field!r}).",
                    obj=type(model_admin),
                    id="labels.E003",
                )
            )
    return errors
