"""GET /catalog/search/: the track search behind a room's "add a track" box."""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from catalog.search import MAX_QUERY_LENGTH, search_tracks
from catalog.selectors import playable_tracks

RESULT_LIMIT = 20
# Typing fires a request every few keystrokes; this allows brisk typing and stops scraping.
RATE_LIMIT_REQUESTS = 30
RATE_LIMIT_WINDOW_S = 10


def _client_key(request) -> str:
    # REMOTE_ADDR, not X-Forwarded-For: a client can write the latter, the proxy cannot be
    # fooled about the former (operators behind a proxy set it from the proxy's header).
    if request.user.is_authenticated:
        return f"u{request.user.pk}"
    return f"a{request.META.get('REMOTE_ADDR', '')}"


def _over_limit(request) -> int:
    """Seconds to wait when the client is over its budget, else 0. A fixed window counter in
    the cache: shared by every process, one add and one incr per request."""
    window = int(time.time() // RATE_LIMIT_WINDOW_S)
    key = f"catalog:search-rl:{_client_key(request)}:{window}"
    cache.add(key, 0, timeout=RATE_LIMIT_WINDOW_S + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=RATE_LIMIT_WINDOW_S + 1)
        count = 1
    if count <= RATE_LIMIT_REQUESTS:
        return 0
    return max(1, int((window + 1) * RATE_LIMIT_WINDOW_S - time.time()) + 1)


def _room_scope(request, slug: str, queryset):
    """Narrow the candidates to what a room's rules allow. Rooms are not the catalog's to know,
    so the rooms app supplies the function through settings.CATALOG_ROOM_SEARCH_SCOPE:
    ``fn(*, request, slug, queryset) -> queryset`` (raising Http404 for a room the client may
    not see). Without it, ``room`` narrows nothing; queue_add still enforces the rules."""
    path = getattr(settings, "CATALOG_ROOM_SEARCH_SCOPE", "")
    if not path:
        return queryset
    return import_string(path)(request=request, slug=slug, queryset=queryset)


@never_cache
@require_GET
def track_search(request):
    """``?q=<text>&room=<slug>`` -> ``{"results": [{id, title, artist_names, album,
    duration_ms}]}``, best match first, playable tracks only."""
    wait = _over_limit(request)
    if wait:
        response = JsonResponse(
            {"error": "Too many searches; wait a moment and try again."}, status=429
        )
        response["Retry-After"] = str(wait)
        return response
    query = request.GET.get("q", "")
    if len(query) > MAX_QUERY_LENGTH:
        return JsonResponse(
            {"error": f"Search for at most {MAX_QUERY_LENGTH} characters."}, status=400
        )
    room = request.GET.get("room", "").strip()
    queryset = playable_tracks()
    if room:
        queryset = _room_scope(request, room, queryset)
    tracks = search_tracks(query, queryset=queryset, limit=RESULT_LIMIT)
    return JsonResponse(
        {
            "results": [
                {
                    "id": t.id,
                    "title": t.title,
                    "artist_names": t.artist_names,
                    "album": t.album,
                    "duration_ms": t.duration_ms,
                }
                for t in tracks
            ]
        }
    )
