"""The directory (`/`) and the nearby lookup behind its "Nearby" button."""

from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from rooms import directory as selectors
from rooms.impressions import Surface, impressions_record
from rooms.views.access import viewer_key


def _clean_sort(value: str) -> str:
    return value if value in selectors.SORTS else "listeners"


def directory(request):
    query = request.GET.get("q", "").strip()[:100]
    genre = request.GET.get("genre", "").strip()[:60]
    sort = _clean_sort(request.GET.get("sort", ""))
    rooms = selectors.rooms_for_directory(query=query, genre=genre, sort=sort)
    page = Paginator(rooms, selectors.PAGE_SIZE).get_page(request.GET.get("page"))
    page_rooms = list(page.object_list)
    front = page.number == 1 and not query and not genre
    featured = selectors.featured_rooms() if front else []
    recommended = selectors.recommended_rooms(user=request.user) if front else []

    for room in [*page_rooms, *featured, *recommended]:
        # A stable colour per room for its card art.
        room.hue = (room.id * 47) % 360
    viewer = viewer_key(request)
    impressions_record(
        room_ids=[room.id for room in page_rooms] + [room.id for room in recommended],
        surface=Surface.SEARCH if query else Surface.DIRECTORY,
        viewer=viewer,
    )
    impressions_record(
        room_ids=[room.id for room in featured], surface=Surface.FEATURED, viewer=viewer
    )

    context = {
        "page": page,
        "rooms": page_rooms,
        "featured": featured,
        "recommended": recommended,
        "genres": selectors.genres_in_use(),
        "query": query,
        "genre": genre,
        "sort": sort,
        "sorts": [("listeners", "Most listeners"), ("trending", "Trending"), ("new", "New")],
    }
    return render(request, "rooms/directory.html", context)


def _coordinate(raw: str, limit: float) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    if value != value or not -limit <= value <= limit:  # NaN or out of range
        return None
    # Two decimals (about a kilometre) is all a venue search needs, and all we ever look at.
    return round(value, 2)


@never_cache
@require_http_methods(["GET", "POST"])
def nearby(request):
    """Venue rooms by distance from a point the browser sends; the point is never kept.

    The page POSTs (a body stays out of access logs); GET with ``?lat=&lng=`` works as well.
    """
    params = request.POST if request.method == "POST" else request.GET
    lat = _coordinate(params.get("lat"), 90)
    lng = _coordinate(params.get("lng"), 180)
    if lat is None or lng is None:
        return JsonResponse(
            {"error": "Send lat (-90..90) and lng (-180..180) as decimal degrees."}, status=400
        )
    try:
        radius = float(params.get("radius", 100))
    except ValueError:
        radius = 100.0
    found = selectors.rooms_nearby(lat=lat, lng=lng, radius_km=radius)
    rooms = []
    for item in found:
        room = item.room
        playback = getattr(room, "playback", None)
        entry = playback.current_entry if playback else None
        rooms.append(
            {
                "slug": room.slug,
                "name": room.name,
                "venue_name": room.venue_name,
                "url": room.get_absolute_url(),
                "distance_km": round(item.distance_km, 1),
                "listeners": room.listener_count,
                "now_playing": (
                    {"title": entry.track.title, "artist_names": entry.track.artist_names}
                    if entry
                    else None
                ),
            }
        )
    impressions_record(
        room_ids=[item.room.id for item in found],
        surface=Surface.DIRECTORY,
        viewer=viewer_key(request),
    )
    return JsonResponse({"rooms": rooms})
