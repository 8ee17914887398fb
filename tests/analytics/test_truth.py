"""The truth test: a synthetic log with known totals, rolled up through late events, a run killed
midway and a re-run window, must come out exactly (reach within its stated error)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command

from analytics import rollups
from analytics.models import FillState, StatCount, StatHour
from rooms.impressions import REACH_ERROR, impressions_flush
from tests.analytics.synth import START

NOW = START + timedelta(days=14)


def stored():
    """Every stored row, the hours read back from their days."""
    return {
        (r.stat, r.granularity, r.bucket_start, r.entity_type, r.entity_id): r.value
        for model in (StatCount, StatHour)
        for r in model.objects.all()
    }


def assert_matches_truth(truth):
    got, want = stored(), truth.rows()
    exact = {k: v for k, v in want.items() if k[0] != "reach"}
    got_exact = {k: v for k, v in got.items() if k[0] != "reach"}
    missing = {k: v for k, v in exact.items() if got_exact.get(k) != v}
    extra = {k: v for k, v in got_exact.items() if k not in exact}
    sample = [(k, v, got_exact.get(k)) for k, v in list(missing.items())[:4]]
    assert not missing, f"{len(missing)} wrong (key, want, got), e.g. {sample}"
    assert not extra, f"{len(extra)} unexpected, e.g. {list(extra.items())[:3]}"
    reach_want = {k: v for k, v in want.items() if k[0] == "reach"}
    reach_got = {k: v for k, v in got.items() if k[0] == "reach"}
    assert reach_got.keys() == reach_want.keys()
    # Redis's HyperLogLog: 0.81% standard error; 4 sigma plus one for tiny sets.
    tolerance = 0 if not settings.REDIS_URL else 4 * REACH_ERROR
    for key, value in reach_want.items():
        assert abs(reach_got[key] - value) <= tolerance * value + (1 if tolerance else 0), key


def run(extra=()):
    return rollups.rollup_all(now=NOW, extra_hours=list(impressions_flush()) + list(extra))


@pytest.mark.django_db
def test_rollups_equal_the_known_totals(world, monkeypatch):
    # Day one, rolled up.
    world.events(START, 24)
    world.sessions(START, 24)
    world.impressions(START, 24)
    run()
    assert_matches_truth(world.truth)
    assert set(FillState.objects.values_list("state", flat=True)) == {"done"}

    # Two more weeks of facts; the run dies after its first week is committed.
    world.events(START + timedelta(days=1), 24 * 10)
    world.sessions(START + timedelta(days=1), 24 * 10)
    world.impressions(START + timedelta(days=1), 24 * 10)

    class Killed(Exception):
        pass

    def die(stat, done):
        raise Killed(stat)

    monkeypatch.setattr(rollups, "_after_chunk", die)
    flushed = impressions_flush()
    with pytest.raises(Killed):
        rollups.rollup_stat("plays", now=NOW)
    with pytest.raises(Killed):
        rollups.rollup_stat("ots", now=NOW, extra_hours=flushed)
    assert FillState.objects.get(stat="plays").state == "started"
    assert StatCount.objects.filter(stat="plays").exists()  # half a run is in the table
    monkeypatch.undo()

    result = {r["stat"]: r for r in rollups.rollup_all(now=NOW, extra_hours=flushed)}
    assert result["plays"]["redone"] is True
    assert_matches_truth(world.truth)

    # Late events: written now, about hours long rolled up.
    world.events(START + timedelta(hours=3), 2, n=10)
    world.sessions(START + timedelta(hours=5), 1, n=5)
    world.impressions(START + timedelta(hours=2), 1, n=10)
    run()
    assert_matches_truth(world.truth)

    # Re-running any window, twice, changes nothing.
    before = stored()
    call_command("rollup", "--from", "2026-03-05", "--to", "2026-03-08")
    call_command("rollup", "--from", "2026-03-07", "--to", "2026-03-20")
    run()
    assert stored() == before


@pytest.mark.django_db
def test_a_run_with_nothing_new_does_no_work(world):
    world.events(START, 5, n=5)
    run()
    again = {r["stat"]: r for r in run()}
    assert again["plays"]["hours"] == 0
    assert again["chat"]["hours"] == 0
