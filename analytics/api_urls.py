from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from analytics import api, api_pages

router = DefaultRouter()
router.register("labels", api.LabelViewSet, basename="api-label")
router.register("rooms", api.RoomViewSet, basename="api-room")
router.register("tracks", api.TrackViewSet, basename="api-track")
router.register("artists", api.ArtistViewSet, basename="api-artist")
router.register("stats", api.StatViewSet, basename="api-stat")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", api_pages.docs, name="api-docs"),
    path("token/", api_pages.token, name="api-token"),
    path("", include(router.urls)),
]
