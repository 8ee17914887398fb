"""The API's docs and token pages, the weekly report, background exports and the demo hook."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from analytics import rollups
from analytics.models import ExportJob, StatCount
from analytics.reports import reports_send_weekly
from rooms.impressions import impressions_flush
from rooms.models import Room
from tests.analytics.synth import START

pytestmark = pytest.mark.django_db


def test_schema_and_self_hosted_docs(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/stats/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    body = docs.content.decode()
    assert "/api/stats/" in body and "granularity" in body
    assert "cdn" not in body.lower() and "https://" not in body


def test_token_page_and_command(client, world, make_user):
    client.force_login(world.staff_a)
    assert client.get("/api/token/").status_code == 200
    response = client.post("/api/token/")
    key = Token.objects.get(user=world.staff_a).key
    assert key.encode() in response.content
    client.post("/api/token/")
    assert not Token.objects.filter(key=key).exists()  # replaced
    out = io.StringIO()
    call_command("api_token", "staff_b", stdout=out)
    assert Token.objects.get(user=world.staff_b).key == out.getvalue().strip()
    make_user("fan")
    with pytest.raises(CommandError, match="staff of no label"):
        call_command("api_token", "fan", stdout=io.StringIO())
    assert not Token.objects.filter(user__username="fan").exists()
    client.force_login(make_user("nobody"))
    assert client.post("/api/token/").status_code == 403
    assert not Token.objects.filter(user__username="nobody").exists()


def test_api_is_rate_limited(client, world):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import UserRateThrottle

    UserRateThrottle.THROTTLE_RATES = {"user": "3/minute"}
    try:
        token = Token.objects.create(user=world.staff_a)
        auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
        codes = [client.get("/api/rooms/", **auth).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[-1] == 429
    finally:
        UserRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


def test_weekly_report_goes_to_owners(world):
    world.events(START, 48, n=10)
    rollups.rollup_all(now=START + timedelta(days=8), extra_hours=impressions_flush())
    sent = reports_send_weekly(today=date(2026, 3, 11))
    assert sent == 2
    to_a = next(m for m in mail.outbox if m.to == ["staff_a@example.com"])
    assert "Alpha Records" in to_a.subject and "Beta" not in to_a.body
    assert f"Plays: {world.truth.total('plays', 'label', world.label_a.id)}" in to_a.body


def test_large_export_runs_as_a_job(client, world, settings):
    settings.ANALYTICS_EXPORT_SYNC_ROWS = 5
    settings.ANALYTICS_EXPORT_DIR = settings.MEDIA_ROOT.parent / "exports"
    world.events(START, 24, n=20)
    rollups.rollup_all(now=START + timedelta(days=2))
    client.force_login(world.staff_a)
    query = "?from=2026-03-05&to=2026-03-08&entity=room"
    page = client.get("/label/analytics/export.csv" + query)
    assert page.status_code == 200 and b"too large to stream" in page.content
    response = client.post("/label/analytics/export.csv" + query)
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/exports/{job.id}/")
    # on_commit does not fire inside the test transaction: run the job as the worker would.
    from analytics.exports import export_job_run

    export_job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == "done" and job.rows_done == job.rows_total > 5
    status = client.get(f"/label/analytics/exports/{job.id}/?format=json").json()
    assert status["download"]
    body = b"".join(client.get(status["download"]).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == job.rows_total
    plays = sum(int(r["value"]) for r in rows if r["stat"] == "plays")
    assert plays == sum(world.truth.total("plays", "room", r.id) for r in (world.ra1, world.ra2))
    client.force_login(world.staff_b)
    assert client.get(f"/label/analytics/exports/{job.id}/download/").status_code == 404


def test_seed_analytics_demo(world):
    Room.objects.exclude(id__in=[world.ra1.id, world.rb1.id]).delete()
    out = io.StringIO()
    call_command("seed_analytics_demo", "--days", "2", stdout=out)
    assert "plays" in out.getvalue()
    assert StatCount.objects.filter(stat="plays", entity_type="room").exists()
    assert StatCount.objects.filter(stat="ots", entity_type="label").exists()
    assert StatCount.objects.filter(stat="reach", entity_type="room").exists()
    call_command("seed_analytics_demo", stdout=out)
    assert "already there" in out.getvalue()
