"""config.urls with the analytics routes in front, as docs/analytics.md asks config/urls.py to
have them (the portal's catch-all at /label/ must come after /label/analytics/)."""

from django.urls import include, path

from config.urls import urlpatterns as project

urlpatterns = [
    path("api/", include("analytics.api_urls")),
    path("label/analytics/", include("analytics.urls")),
    *project,
]
