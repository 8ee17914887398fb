"""Track search: what a fan types into a room's "add a track" box.

On PostgreSQL, full-text search over title, artists and album (prefix-matched as you type) plus
pg_trgm word similarity, so "beatels" still finds The Beatles; both are served by the GIN indexes
of migration 0002. Elsewhere (SQLite, one-box installs) a portable substring search with the same
order of preference: exact title, title prefix, title, artist, album, genre.
"""

import re

from django.db import connection, transaction
from django.db.models import (
    Case,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Greatest

from catalog.models import Track

MAX_QUERY_LENGTH = 100
MAX_LIMIT = 100
WORD_SIMILARITY_THRESHOLD = 0.45
# Below this many characters every title looks like a typo of the query.
MIN_TYPO_QUERY = 4
# One config for every language: titles and names are not prose, stemming would only hurt.
FTS_CONFIG = "simple"

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize_query(query: str) -> str:
    return " ".join((query or "").split())[:MAX_QUERY_LENGTH]


def _preference(query: str) -> Case:
    return Case(
        When(title__iexact=query, then=Value(100.0)),
        When(title__istartswith=query, then=Value(60.0)),
        When(title__icontains=query, then=Value(40.0)),
        When(artist_names__icontains=query, then=Value(30.0)),
        When(album__icontains=query, then=Value(15.0)),
        default=Value(0.0),
        output_field=FloatField(),
    )


def _genre_match(query: str) -> Exists:
    through = Track.genres.through
    return Exists(through.objects.filter(track_id=OuterRef("pk"), genre__name__iexact=query))


def _genre_bonus(query: str) -> Case:
    return Case(
        When(_genre_match(query), then=Value(10.0)), default=Value(0.0), output_field=FloatField()
    )


def search_vector():
    """The weighted document; migration 0002 indexes exactly this expression."""
    from django.contrib.postgres.search import SearchVector

    return (
        SearchVector("title", weight="A", config=FTS_CONFIG)
        + SearchVector("artist_names", weight="B", config=FTS_CONFIG)
        + SearchVector("album", weight="C", config=FTS_CONFIG)
    )


def _search_postgres(query: str, queryset: QuerySet) -> QuerySet:
    from django.contrib.postgres.lookups import TrigramWordSimilar
    from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity

    words = _WORD.findall(query.lower())
    document = search_vector()
    text_match = Q(pk__in=[])
    rank = Value(0.0)
    if words:
        # Only \w characters reach the raw tsquery, so user input cannot inject operators.
        tsquery = SearchQuery(
            " & ".join(f"'{w}':*" for w in words), search_type="raw", config=FTS_CONFIG
        )
        text_match |= Q(fts_document=tsquery)
        rank = SearchRank(document, tsquery)
    if len(query) >= MIN_TYPO_QUERY:
        text_match |= TrigramWordSimilar(F("title"), Value(query))
        text_match |= TrigramWordSimilar(F("artist_names"), Value(query))
    # A plain OR with the genre subquery would defeat the GIN indexes (no BitmapOr across a
    # subplan); a UNION of the two candidate sets lets each side use its own index.
    by_text = (
        Track.objects.annotate(fts_document=document).filter(text_match).order_by().values("pk")
    )
    by_genre = (
        Track.genres.through.objects.filter(genre__name__iexact=query).order_by().values("track_id")
    )
    similarity = Greatest(
        TrigramWordSimilarity(Value(query), "title"),
        TrigramWordSimilarity(Value(query), "artist_names") * Value(0.8),
    )
    return (
        queryset.filter(pk__in=by_text.union(by_genre))
        .annotate(
            score=_preference(query)
            + rank * Value(10.0)
            + similarity * Value(10.0)
            + _genre_bonus(query)
        )
        .order_by("-score", "title", "id")
    )


def _search_portable(query: str, queryset: QuerySet) -> QuerySet:
    words = _WORD.findall(query)
    every_word = Q()
    for word in words:
        every_word &= (
            Q(title__icontains=word)
            | Q(artist_names__icontains=word)
            | Q(album__icontains=word)
            | _genre_match_word(word)
        )
    match = (
        Q(title__icontains=query)
        | Q(artist_names__icontains=query)
        | Q(album__icontains=query)
        | _genre_match(query)
    )
    if words:
        match |= every_word
    return (
        queryset.filter(match)
        .annotate(score=_preference(query) + _genre_bonus(query))
        .order_by("-score", "title", "id")
    )


def _genre_match_word(word: str) -> Exists:
    through = Track.genres.through
    return Exists(through.objects.filter(track_id=OuterRef("pk"), genre__name__icontains=word))


def search_tracks(query: str, *, queryset: QuerySet | None = None, limit: int = 20) -> list[Track]:
    """Tracks matching ``query``, best first. ``queryset`` narrows the candidates (playable
    tracks, a label's catalog, a room's allowed tracks); an empty query finds nothing."""
    query = normalize_query(query)
    if not query:
        return []
    limit = max(1, min(limit, MAX_LIMIT))
    queryset = Track.objects.all() if queryset is None else queryset
    if connection.vendor != "postgresql":
        return list(_search_portable(query, queryset)[:limit])
    with transaction.atomic():
        # Typos lose a trigram or two: "beatels" is 0.5 similar to "The Beatles", under the
        # default threshold of 0.6. set_config(..., true) lasts only for this transaction.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
                [str(WORD_SIMILARITY_THRESHOLD)],
            )
        return list(_search_postgres(query, queryset)[:limit])
