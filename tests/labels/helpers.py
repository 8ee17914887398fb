"""Reading an admin change form back into POST data, as a browser would submit it."""

from django.core.files import File


def _put(data: dict, key: str, value) -> None:
    if value is None or isinstance(value, File):
        return  # files are left as they are
    if isinstance(value, bool):
        if value:
            data[key] = "on"
    elif isinstance(value, (list, tuple)):
        data[key] = [str(v) for v in value]
    else:
        data[key] = str(value)


def changeform_data(response) -> dict:
    data: dict = {}
    form = response.context["adminform"].form
    for name in form.fields:
        _put(data, form.add_prefix(name), form[name].value())
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for sub in formset.forms:
            for name in sub.fields:
                _put(data, sub.add_prefix(name), sub[name].value())
    return data
