from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("search/", views.track_search, name="search"),
]
