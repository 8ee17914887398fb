"""Search indexes for PostgreSQL: pg_trgm and GIN indexes over the expressions catalog.search
queries. Other databases have no such indexes; catalog.search falls back to substring search."""

from django.db import migrations

FTS_EXPRESSION = (
    "(setweight(to_tsvector('simple'::regconfig, COALESCE(title, '')), 'A')"
    " || setweight(to_tsvector('simple'::regconfig, COALESCE(artist_names, '')), 'B'))"
    " || setweight(to_tsvector('simple'::regconfig, COALESCE(album, '')), 'C')"
)

FORWARDS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX IF NOT EXISTS catalog_track_fts ON catalog_track USING gin (({FTS_EXPRESSION}))",
    "CREATE INDEX IF NOT EXISTS catalog_track_title_trgm ON catalog_track"
    " USING gin (title gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS catalog_track_artists_trgm ON catalog_track"
    " USING gin (artist_names gin_trgm_ops)",
]
BACKWARDS = [
    "DROP INDEX IF EXISTS catalog_track_artists_trgm",
    "DROP INDEX IF EXISTS catalog_track_title_trgm",
    "DROP INDEX IF EXISTS catalog_track_fts",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARDS), _run(BACKWARDS))]
