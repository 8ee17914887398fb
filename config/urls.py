from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from config.health import healthz
from labels.admin import label_site

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Analytics pages sit inside the portal; they go before its catch-all.
    path("label/analytics/", include("analytics.urls")),
    path("label/", label_site.urls),
    path("api/", include("analytics.api_urls")),
    path("accounts/", include("rooms.account_urls")),
    path("catalog/", include("catalog.urls")),
    path("", include("rooms.urls")),
]

if settings.SERVE_MEDIA:
    from catalog.media import serve_media

    urlpatterns.append(path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", serve_media))
