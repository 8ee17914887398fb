"""CSV exports on PostgreSQL: the database writes the CSV itself with ``COPY … TO STDOUT``.

The SELECT is the export's own scoped, filtered queryset (compiled by the ORM, its parameters
bound on the client because COPY takes none), with the names joined and the values formatted in
SQL exactly as the portable ``csv.writer`` path formats them. psycopg hands the output over as it
arrives; it is passed on in chunks of about 64 kB, so memory stays flat.
"""

from collections.abc import Iterator

from django.db import connection, transaction

from analytics import selectors

CHUNK = 64 * 1024
# A spreadsheet runs a cell that starts with one of these as a formula; such names get a quote.
FORMULA_START = "=+-@\t\r"
# Listening time in minutes with 3 decimals, rounded half to even as Decimal.quantize does.
_MINUTES = (
    "round((s.v / 60 + CASE WHEN mod(s.v, 60) > 30 "
    "OR (mod(s.v, 60) = 30 AND mod(s.v / 60, 2) = 1) THEN 1 ELSE 0 END)::numeric / 1000, 3)::text"
)
_BUCKET = "to_char(s.b AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def copy_select(queryset, *, entity_type: str, granularity: str) -> str:
    """One SELECT of the export's CSV columns over ``queryset`` (StatCount), parameters bound."""
    import psycopg

    inner = queryset.order_by().values_list(
        "bucket_start", "entity_type", "entity_id", "stat", "value"
    )
    sql, params = inner.query.sql_with_params()
    model, field = selectors.name_model(entity_type)
    quote = connection.ops.quote_name
    names = quote(model._meta.db_table)
    name = "n." + quote(model._meta.get_field(field).column)
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_START)
    select = (
        f"SELECT {_BUCKET} AS bucket_start, %s AS granularity, "  # noqa: S608 - table names only
        "s.et AS entity_type, s.eid AS entity_id, "
        f"CASE WHEN left({name}, 1) IN ({starts}) THEN chr(39) || {name} ELSE {name} END AS name, "
        "CASE WHEN s.st = 'listening_ms' THEN 'listening_minutes' ELSE s.st END AS stat, "
        f"CASE WHEN s.st = 'listening_ms' THEN {_MINUTES} ELSE s.v::text END AS value "
        f"FROM ({sql}) s (b, et, eid, st, v) LEFT JOIN {names} n ON n.id = s.eid "
        "ORDER BY s.b, s.eid, s.st"
    )
    connection.ensure_connection()
    return psycopg.ClientCursor(connection.connection).mogrify(select, [granularity, *params])


def copy_stream(select: str) -> Iterator[bytes]:
    """The CSV (with its header) of a bound SELECT, in chunks, as PostgreSQL sends it."""
    statement = f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER)"
    # A reader that stops early cancels the COPY; the savepoint keeps that from spoiling an
    # enclosing transaction (outside one, this is the COPY's own transaction).
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        buf = bytearray()
        for data in copy:
            buf += data
            if len(buf) >= CHUNK:
                yield bytes(buf)
                buf.clear()
        if buf:
            yield bytes(buf)
