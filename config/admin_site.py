"""The operators' admin (/admin/): Django's own, its sign-in throttled like every other."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm

from config.signin import ThrottledAuthenticationForm, throttled_status


class OperatorAuthenticationForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    """Staff accounts only (Django's check), failures limited (ours)."""


class OperatorAdminSite(admin.AdminSite):
    login_form = OperatorAuthenticationForm

    def login(self, request, extra_context=None):
        return throttled_status(super().login(request, extra_context))
