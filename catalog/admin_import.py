"""The portal's delivery import page: upload a CSV or JSON delivery, see row errors, import.

Small files import while the request waits. Larger ones are stored and imported by a Celery
task that writes its progress to the cache; the page polls it. Both run the same
``catalog.importer.import_catalog`` as the ``import_catalog`` command.
"""

import time
import uuid
from dataclasses import asdict, is_dataclass

from celery import shared_task
from django import forms
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from labels import scoping
from labels.models import Label

# Above this the import runs in the background with progress; below, the request waits.
SYNC_LIMIT_BYTES = 256 * 1024
MAX_IMPORT_BYTES = 50 * 1024 * 1024
JOB_TTL = 24 * 3600


class ImportForm(forms.Form):
    delivery = forms.FileField(help_text="A CSV or JSON delivery, at most 50 MB.")
    fmt = forms.ChoiceField(
        label="Format",
        choices=[("", "From the file name"), ("csv", "CSV"), ("json", "JSON")],
        required=False,
    )
    partial = forms.BooleanField(
        required=False,
        label="Import the valid rows even when some rows have errors",
        help_text="Otherwise nothing is imported until every row is right.",
    )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("delivery")
        if upload is None:
            return cleaned
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError("The delivery is larger than 50 MB; split it.")
        fmt = cleaned.get("fmt") or upload.name.rsplit(".", 1)[-1].lower()
        if fmt not in ("csv", "json"):
            raise forms.ValidationError("Name the file .csv or .json, or choose its format.")
        cleaned["fmt"] = fmt
        return cleaned


def _job_key(job: str) -> str:
    return f"catalog-import:{job}"


def _report_dict(report) -> dict:
    errors = [asdict(e) if is_dataclass(e) else dict(e) for e in report.errors]
    return {
        "created": report.created,
        "updated": report.updated,
        "ok": report.ok,
        "errors": errors,
    }


def _run(*, source, fmt: str, label: Label, partial: bool, progress=None) -> dict:
    from catalog.importer import import_catalog

    report = import_catalog(source=source, fmt=fmt, label=label, partial=partial, progress=progress)
    return _report_dict(report)


# Queued deliveries wait outside MEDIA_ROOT: /media/ is public, a label's delivery is not.
def _spool() -> FileSystemStorage:
    return FileSystemStorage(location=settings.VAR_DIR / "imports")


@shared_task(name="catalog.admin_import.import_job")
def import_job(*, job: str, path: str, fmt: str, label_id: int, partial: bool) -> None:
    state = cache.get(_job_key(job)) or {"label_id": label_id}
    last_write = [0.0]

    def progress(done: int, total: int) -> None:
        state.update(state="running", done=done, total=total)
        # The page polls once a second: a cache write per row would only cost time.
        if done == total or time.monotonic() - last_write[0] > 0.5:
            last_write[0] = time.monotonic()
            cache.set(_job_key(job), state, JOB_TTL)

    try:
        with _spool().open(path, "rb") as fh:
            source = fh.read()
        label = Label.objects.get(pk=label_id)
        state.update(
            state="done",
            report=_run(source=source, fmt=fmt, label=label, partial=partial, progress=progress),
        )
    except Exception as exc:  # the page must learn that the job died, not wait forever
        state.update(state="failed", message=f"The import stopped: {exc}")
        raise
    finally:
        cache.set(_job_key(job), state, JOB_TTL)
        _spool().delete(path)


def _require_editor(request) -> Label:
    if not scoping.can_edit(request):
        raise PermissionDenied
    return scoping.current_label(request)


def import_view(model_admin, request):
    label = _require_editor(request)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Import a delivery",
        "report": None,
    }
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["delivery"]
        fmt, partial = form.cleaned_data["fmt"], form.cleaned_data["partial"]
        if upload.size <= SYNC_LIMIT_BYTES:
            context["report"] = _run(source=upload.read(), fmt=fmt, label=label, partial=partial)
        else:
            job = uuid.uuid4().hex
            path = _spool().save(f"{job}.{fmt}", ContentFile(upload.read()))
            cache.set(_job_key(job), {"label_id": label.pk, "state": "queued"}, JOB_TTL)
            import_job.delay(job=job, path=path, fmt=fmt, label_id=label.pk, partial=partial)
            return redirect(reverse("label:catalog_track_import_status", args=[job]))
    context["form"] = form
    return TemplateResponse(request, "labels/track_import.html", context)


def import_status_view(model_admin, request, job):
    label = _require_editor(request)
    state = cache.get(_job_key(job))
    # Another label's job is indistinguishable from one that never existed.
    if not state or state.get("label_id") != label.pk:
        raise Http404("No such import.")
    public = {k: v for k, v in state.items() if k != "label_id"}
    if request.GET.get("format") == "json":
        return JsonResponse(public)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Importing a delivery",
        "job": public,
        "report": public.get("report"),
        "status_url": request.path + "?format=json",
    }
    return TemplateResponse(request, "labels/track_import.html", context)
