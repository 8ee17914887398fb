"""The weekly report: last week's figures, emailed to each label's owners."""

from datetime import date, timedelta

from django.conf import settings
from django.core.mail import send_mass_mail
from django.template.loader import render_to_string
from django.utils import timezone

from analytics import selectors
from analytics.models import Entity, Granularity, Stat
from analytics.selectors import Window
from labels.models import Label, Role

REPORT_STATS = (Stat.PLAYS, Stat.LISTENING_MS, Stat.OTS, Stat.VOTES, Stat.FAVOURITES, Stat.CHAT)


def last_week(today: date | None = None) -> Window:
    today = today or timezone.now().date()
    monday = today - timedelta(days=today.weekday())
    return Window(monday - timedelta(days=7), monday - timedelta(days=1), Granularity.DAY)


def report_for(label: Label, window: Window) -> dict:
    sums = selectors.totals(
        label_id=label.id, window=window, entity_type=Entity.LABEL, stats=REPORT_STATS
    )
    week = Window(window.start, window.end, Granularity.WEEK)
    listeners = selectors.series(
        label_id=label.id, stat=Stat.UNIQUE_LISTENERS, window=week, entity_type=Entity.LABEL
    )
    return {
        "label": label,
        "window": window,
        "totals": [(s, selectors.display(s, v)) for s, v in sums.items()],
        "unique_listeners": listeners[0][1] if listeners else 0,
        "top_tracks": selectors.top(
            label_id=label.id, entity_type=Entity.TRACK, stat=Stat.PLAYS, window=window, limit=5
        ),
        "top_rooms": selectors.top(
            label_id=label.id, entity_type=Entity.ROOM, stat=Stat.PLAYS, window=window, limit=5
        ),
        "site_url": settings.SITE_URL,
    }


def reports_send_weekly(*, today: date | None = None) -> int:
    """Email every label's owners; returns the number of emails sent."""
    window = last_week(today)
    messages = []
    for label in Label.objects.prefetch_related("memberships__user"):
        owners = [
            m.user.email
            for m in label.memberships.all()
            if m.role == Role.OWNER and m.user.email and m.user.is_active
        ]
        if not owners:
            continue
        body = render_to_string("analytics/weekly_report.txt", report_for(label, window))
        subject = f"{label.name}: your week on Roomtone ({window.start} – {window.end})"
        messages += [(subject, body, settings.DEFAULT_FROM_EMAIL, [to]) for to in owners]
    return send_mass_mail(messages, fail_silently=False) if messages else 0
