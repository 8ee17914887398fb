"""Hour rows move into their day rows (``StatCount.hours``); ``analytics_stathour`` reads them back.

A rollup wrote a row per entity and hour (24 a day, each with three index entries); it now writes
one per entity and day. Existing hour rows are folded into their day rows, then deleted. Going
back drops the hours; ``manage.py rollup --from … --to …`` rebuilds them from the raw facts.
"""

from collections import defaultdict
from datetime import UTC

from django.db import migrations, models

VIEW = {
    "postgresql": (
        "CREATE VIEW analytics_stathour AS SELECT s.id * 24 + h.key::int AS id, s.stat, "
        "'hour'::varchar(4) AS granularity, "
        "s.bucket_start + h.key::int * interval '1 hour' AS bucket_start, s.entity_type, "
        "s.entity_id, s.label_id, h.value::bigint AS value, s.bucket_start AS day "
        "FROM analytics_statcount s CROSS JOIN LATERAL jsonb_each_text(s.hours) h "
        "WHERE s.granularity = 'day' AND s.hours IS NOT NULL"
    ),
    "sqlite": (
        "CREATE VIEW analytics_stathour AS SELECT s.id * 24 + CAST(h.key AS integer) AS id, "
        "s.stat, 'hour' AS granularity, "
        "datetime(s.bucket_start, '+' || h.key || ' hours') AS bucket_start, s.entity_type, "
        "s.entity_id, s.label_id, CAST(h.value AS integer) AS value, s.bucket_start AS day "
        "FROM analytics_statcount s, json_each(s.hours) h "
        "WHERE s.granularity = 'day' AND s.hours IS NOT NULL"
    ),
}


def create_view(apps, schema_editor):
    schema_editor.execute(VIEW[schema_editor.connection.vendor])


def drop_view(apps, schema_editor):
    schema_editor.execute("DROP VIEW IF EXISTS analytics_stathour")


def fold_hours(apps, schema_editor):
    StatCount = apps.get_model("analytics", "StatCount")
    hours = StatCount.objects.filter(granularity="hour")
    days: dict[tuple, dict] = defaultdict(dict)
    labels: dict[tuple, int | None] = {}
    for row in hours.iterator(chunk_size=5000):
        at = row.bucket_start.astimezone(UTC)
        key = (row.stat, at.replace(hour=0), row.entity_type, row.entity_id)
        days[key][str(at.hour)] = row.value
        labels[key] = row.label_id
    for (stat, day, etype, eid), slots in days.items():
        StatCount.objects.update_or_create(
            stat=stat,
            granularity="day",
            bucket_start=day,
            entity_type=etype,
            entity_id=eid,
            defaults={"hours": slots},
            create_defaults={
                "hours": slots,
                "label_id": labels[(stat, day, etype, eid)],
                "value": sum(slots.values()),
            },
        )
    hours.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_fillstate_live_since"),
    ]

    operations = [
        migrations.AddField(
            model_name="statcount",
            name="hours",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(fold_hours, migrations.RunPython.noop),
        migrations.RunPython(create_view, drop_view),
        migrations.CreateModel(
            name="StatHour",
            fields=[
                ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("stat", models.CharField(max_length=20)),
                ("granularity", models.CharField(max_length=4)),
                ("bucket_start", models.DateTimeField()),
                ("entity_type", models.CharField(max_length=6)),
                ("entity_id", models.BigIntegerField()),
                ("value", models.BigIntegerField()),
                ("day", models.DateTimeField()),
            ],
            options={"db_table": "analytics_stathour", "managed": False},
        ),
    ]
