"""Label dashboards and exports, inside the label portal (/label/analytics/).

Each view is wrapped by ``label_site.admin_view`` (login, membership, CSRF, no caching) and reads
the label from ``labels.scoping.current_label`` only, never from the request's parameters.
"""

from functools import wraps

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from analytics import exports, selectors
from analytics.models import Entity, ExportJob, Stat
from analytics.params import BadParams, Filters, filters_parse
from catalog.models import Track
from labels.scoping import current_label
from rooms.models import Room

STAT_TITLES = {
    Stat.PLAYS: "Plays",
    Stat.LISTENING_MS: "Listening minutes",
    Stat.UNIQUE_LISTENERS: "Unique listeners",
    Stat.OTS: "OTS (opportunities to see)",
    Stat.REACH: "Reach",
    Stat.VOTES: "Votes",
    Stat.ADDS: "Adds",
    Stat.SKIPS: "Skip votes",
    Stat.FAVOURITES: "Favourites",
    Stat.CHAT: "Chat messages",
}
TRACK_STATS = (Stat.PLAYS, Stat.VOTES, Stat.ADDS, Stat.SKIPS, Stat.FAVOURITES)
ROOM_STATS = (Stat.PLAYS, Stat.LISTENING_MS, Stat.UNIQUE_LISTENERS, Stat.OTS, Stat.REACH)


def portal_view(view):
    """Run the view as a page of the label portal, with the request's label as ``label``."""

    @wraps(view)
    def inner(request, *args, **kwargs):
        label = current_label(request)
        if label is None:
            raise Http404("No label.")
        return view(request, label, *args, **kwargs)

    def wrapped(request, *args, **kwargs):
        from labels.admin import label_site

        return label_site.admin_view(inner)(request, *args, **kwargs)

    return wraps(view)(wrapped)


def _context(request, label, **extra):
    from labels.admin import label_site

    # The admin templates' links ("admin:index", password change, log out) resolve in the
    # portal's namespace, not the operators' admin.
    request.current_app = label_site.name
    context = label_site.each_context(request)
    # Reach is a HyperLogLog estimate with Redis, an exact count of stored viewers without.
    context.update(label=label, reach_estimated=bool(settings.REDIS_URL), **extra)
    return context


def _charts(label_id, filters: Filters, entity_type, entity_id, stats):
    charts = []
    for stat in stats:
        points = selectors.series(
            label_id=label_id,
            stat=stat,
            window=filters.window,
            entity_type=entity_type,
            entity_id=entity_id,
        )
        charts.append(
            {
                "stat": stat,
                "title": STAT_TITLES[stat],
                "distinct": stat in (Stat.UNIQUE_LISTENERS, Stat.REACH),
                "points": [
                    [at.strftime("%Y-%m-%dT%H:%M:%SZ"), float(selectors.display(stat, v))]
                    for at, v in points
                ],
            }
        )
    return charts


def _totals(label_id, filters, entity_type, entity_id, stats):
    sums = selectors.totals(
        label_id=label_id,
        window=filters.window,
        entity_type=entity_type,
        entity_id=entity_id,
        stats=stats,
    )
    return [
        {"stat": s, "title": STAT_TITLES[s], "value": selectors.display(s, v)}
        for s, v in sums.items()
        if v is not None
    ]


def _filters(request, label):
    try:
        return filters_parse(request.GET, label_id=label.id), None
    except BadParams as exc:
        return filters_parse({}, label_id=label.id), str(exc)


@portal_view
@require_GET
def dashboard(request, label):
    filters, error = _filters(request, label)
    top = {
        "tracks": selectors.top(
            label_id=label.id, entity_type=Entity.TRACK, stat=Stat.PLAYS, window=filters.window
        ),
        "rooms": selectors.top(
            label_id=label.id, entity_type=Entity.ROOM, stat=Stat.PLAYS, window=filters.window
        ),
        "rooms_minutes": selectors.top(
            label_id=label.id,
            entity_type=Entity.ROOM,
            stat=Stat.LISTENING_MS,
            window=filters.window,
        ),
    }
    for row in top["rooms_minutes"]:
        row["value"] = selectors.display(Stat.LISTENING_MS, row["value"])
    context = _context(
        request,
        label,
        title="Analytics",
        filters=filters,
        error=error,
        charts=_charts(label.id, filters, Entity.LABEL, None, selectors.CHART_STATS),
        totals=_totals(label.id, filters, Entity.LABEL, None, [s.value for s in Stat]),
        top=top,
        export_query=request.GET.urlencode(),
    )
    return render(request, "analytics/dashboard.html", context)


def _detail(request, label, *, subject, name: str, kind: str, entity, stats, totals_of):
    filters, error = _filters(request, label)
    context = _context(
        request,
        label,
        title=f"Analytics · {name}",
        subject=subject,
        kind=kind,
        filters=filters,
        error=error,
        charts=_charts(label.id, filters, entity, subject.id, stats),
        totals=_totals(label.id, filters, entity, subject.id, totals_of),
        export_query=f"{kind}={subject.id}&" + request.GET.urlencode(),
    )
    return render(request, "analytics/detail.html", context)


@portal_view
@require_GET
def room_detail(request, label, room_id: int):
    room = get_object_or_404(Room, id=room_id, label=label)
    return _detail(
        request,
        label,
        subject=room,
        name=room.name,
        kind="room",
        entity=Entity.ROOM,
        stats=ROOM_STATS,
        totals_of=[s.value for s in Stat],
    )


@portal_view
@require_GET
def track_detail(request, label, track_id: int):
    track = get_object_or_404(Track, id=track_id, label=label)
    return _detail(
        request,
        label,
        subject=track,
        name=track.title,
        kind="track",
        entity=Entity.TRACK,
        stats=TRACK_STATS,
        totals_of=TRACK_STATS,
    )


@portal_view
def export(request, label, fmt: str):
    """GET streams the export now; POST (or a GET too large to stream) starts a job."""
    if fmt not in ("csv", "xlsx"):
        raise Http404("No such format.")
    try:
        filters = filters_parse(request.GET, label_id=label.id)
    except BadParams as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    if request.method == "POST" or exports.row_count(label.id, filters) > exports.sync_limit():
        if request.method != "POST":
            return render(
                request,
                "analytics/export_confirm.html",
                _context(request, label, title="Large export", fmt=fmt, query=request.GET),
            )
        job = exports.export_job_create(
            label_id=label.id, user=request.user, filters=filters, fmt=fmt
        )
        return redirect(reverse("analytics:export_job", args=[job.id]))
    name = exports.filename(label.slug, filters, fmt)
    if fmt == "csv":
        response = StreamingHttpResponse(
            exports.csv_stream(label.id, filters), content_type="text/csv; charset=utf-8"
        )
    else:
        try:
            path = exports.xlsx_tempfile(label.id, filters)
        except ValueError as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain")
        handle = path.open("rb")
        path.unlink()  # the open handle keeps the data until the response is sent
        response = FileResponse(handle, content_type=exports.XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@portal_view
@require_GET
def export_job(request, label, job_id: int):
    job = get_object_or_404(ExportJob, id=job_id, label=label)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "status": job.status,
                "rows_done": job.rows_done,
                "rows_total": job.rows_total,
                "error": job.error,
                "download": reverse("analytics:export_download", args=[job.id])
                if job.status == ExportJob.Status.DONE
                else None,
            }
        )
    return render(
        request, "analytics/export_job.html", _context(request, label, title="Export", job=job)
    )


@portal_view
@require_GET
def export_download(request, label, job_id: int):
    job = get_object_or_404(ExportJob, id=job_id, label=label, status=ExportJob.Status.DONE)
    try:
        handle = open(job.path, "rb")  # noqa: SIM115 - FileResponse closes it
    except FileNotFoundError:
        raise Http404("The file is gone; export again.") from None
    name = f"roomtone-{label.slug}-export-{job.id}.{job.fmt}"
    content_type = "text/csv" if job.fmt == "csv" else exports.XLSX_TYPE
    return FileResponse(handle, as_attachment=True, filename=name, content_type=content_type)
