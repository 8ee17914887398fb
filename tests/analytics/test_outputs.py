"""Dashboards, CSV, XLSX and the API show exactly the rolled-up truth, and only to its label."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from rest_framework.authtoken.models import Token

from analytics import rollups
from rooms.impressions import impressions_flush
from tests.analytics.synth import START

pytestmark = pytest.mark.django_db
RANGE = {"from": "2026-03-05", "to": "2026-03-12"}
NOW = START + timedelta(days=10)


@pytest.fixture
def rolled(world):
    world.events(START, 48, n=30)
    world.sessions(START, 48, n=15)
    world.impressions(START, 48, n=30)
    rollups.rollup_all(now=NOW, extra_hours=impressions_flush())
    return world


def minutes(ms: int) -> Decimal:
    return (Decimal(ms) / 60000).quantize(Decimal("0.001"))


def test_dashboard_figures_equal_the_truth(client, rolled):
    w = rolled
    client.force_login(w.staff_a)
    response = client.get("/label/analytics/", {**RANGE, "granularity": "day"})
    assert response.status_code == 200
    totals = {t["stat"]: t["value"] for t in response.context["totals"]}
    for stat in ("plays", "votes", "adds", "skips", "favourites", "chat", "ots"):
        assert totals[stat] == w.truth.total(stat, "label", w.label_a.id), stat
    assert totals["listening_ms"] == minutes(w.truth.total("listening_ms", "label", w.label_a.id))
    charts = {c["stat"]: c["points"] for c in response.context["charts"]}
    assert sum(v for _, v in charts["plays"]) == w.truth.total("plays", "label", w.label_a.id)
    day = START.strftime("%Y-%m-%dT%H:%M:%SZ")
    want = len(w.truth.distinct[("unique_listeners", "day", START, "label", w.label_a.id)])
    assert dict(charts["unique_listeners"])[day] == want
    top = {r["id"]: r["value"] for r in response.context["top"]["tracks"]}
    assert top[w.ta1.id] == w.truth.total("plays", "track", w.ta1.id)
    assert w.tb1.id not in top  # label B's track
    assert b"an-chart" in response.content

    page = client.get(f"/label/analytics/rooms/{w.ra1.id}/", RANGE)
    totals = {t["stat"]: t["value"] for t in page.context["totals"]}
    assert totals["plays"] == w.truth.total("plays", "room", w.ra1.id)
    page = client.get(f"/label/analytics/tracks/{w.ta2.id}/", RANGE)
    totals = {t["stat"]: t["value"] for t in page.context["totals"]}
    assert totals["favourites"] == w.truth.total("favourites", "track", w.ta2.id)


def _truth_rows(w, gran, etype, label_id):
    out = {}
    for (stat, g, bucket, t, eid), v in w.truth.rows().items():
        if g != gran or t != etype:
            continue
        if etype == "label" and eid != label_id:
            continue
        # One owner map per kind: a track and an artist may share an id.
        owner = {
            "room": {r.id: r.label_id for r in w.rooms},
            "label": {eid: eid},
            "track": {x.id: x.label_id for x in w.tracks},
            "artist": {a.id: a.label_id for a in (w.art_a1, w.art_a2, w.art_b1)},
        }[t]
        if owner.get(eid) != label_id:
            continue
        name = "listening_minutes" if stat == "listening_ms" else stat
        value = minutes(v) if stat == "listening_ms" else v
        out[(bucket.strftime("%Y-%m-%dT%H:%M:%SZ"), eid, name)] = value
    return out


def _without_reach(rows):
    return {k: v for k, v in rows.items() if k[2] != "reach"}


def test_csv_export_equals_the_truth(client, rolled):
    w = rolled
    client.force_login(w.staff_a)
    response = client.get("/label/analytics/export.csv", {**RANGE, "entity": "room"})
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    got = {
        (r["bucket_start"], int(r["entity_id"]), r["stat"]): (
            Decimal(r["value"]) if r["stat"] == "listening_minutes" else int(r["value"])
        )
        for r in rows
    }
    assert _without_reach(got) == _without_reach(_truth_rows(w, "day", "room", w.label_a.id))
    assert {r["name"] for r in rows} <= {"Alpha One", "Alpha Two"}


def test_xlsx_export_equals_the_truth(client, rolled):
    w = rolled
    client.force_login(w.staff_a)
    response = client.get(
        "/label/analytics/export.xlsx", {**RANGE, "entity": "track", "granularity": "week"}
    )
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = book["stats"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert header[0] == "bucket_start"
    got = {(r[0], r[3], r[5]): r[6] for r in rows}
    assert got == _truth_rows(w, "week", "track", w.label_a.id)


def test_api_equals_the_truth(client, rolled):
    w = rolled
    token = Token.objects.create(user=w.staff_a)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    got, url = {}, "/api/stats/"
    params = {**RANGE, "granularity": "hour", "entity": "artist"}
    while url:
        response = client.get(url, params, **auth)
        assert response.status_code == 200, response.content
        body = response.json()
        for r in body["results"]:
            got[(r["bucket_start"].replace("+00:00", "Z"), r["entity_id"], r["stat"])] = r["value"]
        url, params = body["next"], {}
    assert got == _truth_rows(w, "hour", "artist", w.label_a.id)
    rooms = client.get("/api/rooms/", **auth).json()["results"]
    assert {r["slug"] for r in rooms} == {"ra1", "ra2"}


def test_label_b_never_sees_label_a(client, rolled):
    w = rolled
    client.force_login(w.staff_b)
    response = client.get("/label/analytics/", RANGE)
    assert response.status_code == 200
    totals = {t["stat"]: t["value"] for t in response.context["totals"]}
    assert totals["plays"] == w.truth.total("plays", "label", w.label_b.id)
    assert b"Alpha" not in response.content
    assert client.get(f"/label/analytics/rooms/{w.ra1.id}/").status_code == 404
    assert client.get(f"/label/analytics/tracks/{w.ta1.id}/").status_code == 404
    assert client.get("/label/analytics/export.csv", {"room": w.ra1.id}).status_code == 400
    text = b"".join(
        client.get("/label/analytics/export.csv", {**RANGE, "entity": "room"}).streaming_content
    ).decode()
    assert "Alpha" not in text and f",room,{w.ra1.id}," not in text

    token = Token.objects.create(user=w.staff_b)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    assert client.get("/api/stats/", {"label": w.label_a.id}, **auth).status_code == 404
    assert client.get("/api/stats/", {"room": w.ra1.id}, **auth).status_code == 400
    assert client.get(f"/api/rooms/{w.ra1.id}/", **auth).status_code == 404
    assert client.get(f"/api/tracks/{w.ta1.id}/", **auth).status_code == 404
    for path in ("/api/rooms/", "/api/tracks/", "/api/artists/", "/api/labels/"):
        body = client.get(path, **auth).content.decode()
        assert "Alpha" not in body and '"ra1"' not in body, path
    stats = client.get("/api/stats/", {**RANGE, "entity": "room"}, **auth).json()["results"]
    assert stats and {r["entity_id"] for r in stats} == {w.rb1.id}


def test_outsiders_and_anonymous_get_nothing(client, rolled, make_user):
    assert client.get("/api/stats/").status_code == 401
    assert client.get("/label/analytics/").status_code == 302  # to the portal's login
    outsider = make_user("outsider")
    client.force_login(outsider)
    assert client.get("/label/analytics/").status_code in (302, 403)
    token = Token.objects.create(user=outsider)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    for path in ("/api/stats/", "/api/rooms/", "/api/labels/"):
        refused = client.get(path, **auth)
        assert refused.status_code == 403, path
        assert "no label" in refused.json()["detail"]


def test_bad_filters_get_clear_errors(client, rolled):
    client.force_login(rolled.staff_a)
    response = client.get("/label/analytics/export.csv", {"from": "yesterday"})
    assert response.status_code == 400 and b"from must be a date" in response.content
    token = Token.objects.create(user=rolled.staff_a)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    response = client.get("/api/stats/", {"granularity": "month"}, **auth)
    assert response.status_code == 400 and "granularity" in response.json()["detail"]
    response = client.get("/label/analytics/", {"granularity": "month"})
    assert response.status_code == 200 and b"granularity must be" in response.content
    response = client.get("/api/stats/", {"stat": "listens"}, **auth)
    detail = response.json()["detail"]
    assert response.status_code == 400 and "listening_minutes" in detail
    assert "listening_ms" not in detail  # the names results use
