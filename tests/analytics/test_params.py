"""Dashboard, export and API parameters: what a range means and which values are refused."""

from datetime import date

import pytest
from django.http import QueryDict

from analytics.params import BadParams, filters_parse
from labels.models import Label

pytestmark = pytest.mark.django_db


def parse(query: str):
    label, _ = Label.objects.get_or_create(name="L")
    return filters_parse(QueryDict(query), label_id=label.id)


def test_weeks_widen_the_range_to_whole_weeks():
    """A Thursday-to-Tuesday range by week covers Monday of the first week to Sunday of the last:
    the totals (from days) then add up to the week buckets shown beside them."""
    window = parse("from=2026-11-12&to=2026-11-17&granularity=week").window
    assert (window.start, window.end) == (date(2026, 11, 9), date(2026, 11, 22))
    days = parse("from=2026-11-12&to=2026-11-17&granularity=day").window
    assert (days.start, days.end) == (date(2026, 11, 12), date(2026, 11, 17))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("entity=bogus", "entity must be one of"),
        ("granularity=month", "granularity must be"),
        ("stat=plays,nope", "unknown stat 'nope'"),
        ("from=2026-02-30", "from must be a date"),
    ],
)
def test_bad_values_are_refused_by_name(query, message):
    with pytest.raises(BadParams, match=message):
        parse(query)
