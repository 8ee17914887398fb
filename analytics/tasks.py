"""Celery tasks: flush impressions and roll up (every few minutes), weekly reports, exports.

Beat entries live in config/settings.py (CELERY_BEAT_SCHEDULE); docs/analytics.md lists them.
"""

from celery import shared_task

from analytics import rollups
from rooms.impressions import impressions_flush


@shared_task(name="analytics.flush_and_rollup", ignore_result=True)
def flush_and_rollup() -> list:
    # The flush marks the hours it wrote; the rollup reads the marks, whatever the hours' age.
    impressions_flush()
    return rollups.rollup_all()


@shared_task(name="analytics.impressions_flush", ignore_result=True)
def flush_impressions() -> int:
    return len(impressions_flush())


@shared_task(name="analytics.weekly_reports", ignore_result=True)
def weekly_reports() -> int:
    from analytics.reports import reports_send_weekly

    return reports_send_weekly()


@shared_task(name="analytics.export_build", ignore_result=True)
def export_build(job_id: int) -> None:
    from analytics.exports import export_job_run

    export_job_run(job_id=job_id)


@shared_task(name="analytics.forget_reach", ignore_result=True)
def forget_reach() -> int:
    """Drop what impressions keep per hour (reach files and hour states without Redis, the
    flush marks with it) once older than the reach sketches; rolled-up rows stay in StatCount."""
    from datetime import timedelta

    from django.utils import timezone

    from rooms.impressions import REACH_TTL, impressions_forget_reach

    return impressions_forget_reach(before=timezone.now() - timedelta(seconds=REACH_TTL))
