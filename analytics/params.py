"""Parsing the filters every dashboard, export and API call shares, checked against the label."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils import timezone

from analytics.models import Entity, Granularity, Stat
from analytics.selectors import ENTITY_MODELS, Window

MAX_DAYS = 3 * 366
MAX_HOUR_DAYS = 31


class BadParams(ValueError):
    """A filter that cannot be used; the message says why and is safe to show."""


@dataclass
class Filters:
    window: Window
    entity_type: str = Entity.LABEL
    entity_id: int | None = None
    stats: list[str] = field(default_factory=list)


def _date(raw: str | None, name: str, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadParams(f"{name} must be a date like 2026-01-31, not {raw[:40]!r}") from None


def filters_parse(query, *, label_id: int, default_days: int = 28) -> Filters:
    """Read from/to/granularity/room/track/artist/stat from a QueryDict for one label."""
    today = timezone.now().date()
    end = _date(query.get("to"), "to", today)
    start = _date(query.get("from"), "from", end - timedelta(days=default_days - 1))
    if start > end:
        raise BadParams("from is after to")
    if (end - start).days >= MAX_DAYS:
        raise BadParams(f"a range may cover at most {MAX_DAYS} days")
    granularity = query.get("granularity") or Granularity.DAY
    if granularity not in Granularity.values:
        raise BadParams("granularity must be hour, day or week")
    if granularity == Granularity.HOUR and (end - start).days >= MAX_HOUR_DAYS:
        raise BadParams(f"hourly figures cover at most {MAX_HOUR_DAYS} days; use day or week")
    if granularity == Granularity.WEEK:
        # Whole weeks, Monday to Sunday: totals, charts and exports then cover the same days.
        start -= timedelta(days=start.weekday())
        end += timedelta(days=6 - end.weekday())
    entity_type, entity_id = Entity.LABEL, None
    chosen = [e for e in (Entity.ROOM, Entity.TRACK, Entity.ARTIST) if query.get(e)]
    if len(chosen) > 1:
        raise BadParams("filter by one of room, track or artist")
    if chosen:
        entity_type = chosen[0]
        try:
            entity_id = int(query.get(entity_type))
        except (TypeError, ValueError):
            raise BadParams(f"{entity_type} must be an id") from None
        owned = ENTITY_MODELS[entity_type].objects.filter(id=entity_id, label_id=label_id)
        if not owned.exists():
            raise BadParams(f"no such {entity_type} at this label")
    elif query.get("entity"):
        entity_type = query.get("entity")  # every entity of that kind at the label
        if entity_type not in Entity.values:
            raise BadParams(f"entity must be one of {', '.join(Entity.values)}")
    stats = query.getlist("stat") if hasattr(query, "getlist") else []
    stats = [s for part in stats for s in part.split(",") if s]
    stats = ["listening_ms" if s == "listening_minutes" else s for s in stats]
    unknown = [s for s in stats if s not in Stat.values]
    if unknown:
        # The names results use (listening time is reported in minutes).
        names = ["listening_minutes" if v == Stat.LISTENING_MS else v for v in Stat.values]
        raise BadParams(f"unknown stat {unknown[0][:40]!r}; one of {', '.join(names)}")
    return Filters(Window(start, end, granularity), entity_type, entity_id, stats)
