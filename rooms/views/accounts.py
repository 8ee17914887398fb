from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from config.signin import ThrottledAuthenticationForm, throttled_status
from rooms.forms import SignupForm
from rooms.models import Favourite, Room
from rooms.views.access import may_see_private


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


class LoginView(auth_views.LoginView):
    """Django's sign-in, with failed attempts limited per username and per address."""

    authentication_form = ThrottledAuthenticationForm

    def post(self, request, *args, **kwargs):
        return throttled_status(super().post(request, *args, **kwargs))


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("/")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(_safe_next(request))
    return render(request, "registration/signup.html", {"form": form, "next": _safe_next(request)})


@login_required
def favourites(request):
    queryset = (
        Favourite.objects.filter(user=request.user)
        .select_related("track", "room")
        .order_by("-created_at", "-id")
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    for fav in page:
        # A private room the fan can no longer open is named, not linked (its page is a 404).
        room = fav.room
        fav.room_open = room is not None and (
            room.visibility != Room.Visibility.PRIVATE or may_see_private(request, room)
        )
    return render(request, "rooms/favourites.html", {"page": page})
