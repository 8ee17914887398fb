from django.urls import include, path

from rooms import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    # Ahead of django.contrib.auth's own, which has no limit on failed attempts.
    path("login/", views.LoginView.as_view(), name="login"),
    path("", include("django.contrib.auth.urls")),
]
