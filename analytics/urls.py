from django.urls import path

from analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("rooms/<int:room_id>/", views.room_detail, name="room"),
    path("tracks/<int:track_id>/", views.track_detail, name="track"),
    path("export.<str:fmt>", views.export, name="export"),
    path("exports/<int:job_id>/", views.export_job, name="export_job"),
    path("exports/<int:job_id>/download/", views.export_download, name="export_download"),
]
