"""The label portal: an AdminSite that only label staff enter, acting for one label at a time."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path

from config.signin import ThrottledAuthenticationForm, throttled_status
from labels import scoping, views
from labels.models import Membership


class LabelAuthenticationForm(ThrottledAuthenticationForm):
    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not Membership.objects.filter(user=user).exists():
            raise forms.ValidationError(
                "This account is not on the staff of any label. Ask your label's owner for an "
                "invitation.",
                code="no_label",
            )


class LabelAdminSite(admin.AdminSite):
    site_header = "Roomtone for labels"
    site_title = "Roomtone for labels"
    index_title = "Your label"
    index_template = "labels/index.html"
    login_form = LabelAuthenticationForm

    def login(self, request, extra_context=None):
        return throttled_status(super().login(request, extra_context))

    def has_permission(self, request):
        # Staff of a label are not Django staff: a membership is what lets someone in.
        return request.user.is_active and scoping.current_membership(request) is not None

    def register(self, model_or_iterable, admin_class=None, **options):
        from labels.scoped_admin import LabelScopedAdmin

        if admin_class is None or not issubclass(admin_class, LabelScopedAdmin):
            raise ImproperlyConfigured(
                "Every model admin on the label portal must extend LabelScopedAdmin."
            )
        super().register(model_or_iterable, admin_class, **options)

    def each_context(self, request):
        context = super().each_context(request)
        membership = scoping.current_membership(request)
        context.update(
            label_portal=True,
            current_membership=membership,
            current_label=membership.label if membership else None,
            label_memberships=scoping.memberships_of(request.user) if membership else [],
        )
        return context

    def get_urls(self):
        # Ahead of the admin's own patterns, which end with a catch-all.
        return [
            path("switch/", self.admin_view(views.switch_label), name="switch_label"),
            # Replaces the admin's unscoped "view on site" shortcut, which would redirect to any
            # object of any model.
            path(
                "r/<path:content_type_id>/<path:object_id>/",
                self.admin_view(self.view_on_site),
                name="view_on_site",
            ),
            path("invite/<str:token>/", views.invite_accept, name="invite_accept"),
            *super().get_urls(),
        ]

    def view_on_site(self, request, content_type_id, object_id):
        from django.contrib.contenttypes.models import ContentType

        from labels.scoped_admin import LabelScopedAdmin

        try:
            model = ContentType.objects.get_for_id(int(content_type_id)).model_class()
        except (ValueError, ContentType.DoesNotExist):
            raise Http404("No such object.")
        model_admin = self._registry.get(model)
        if not isinstance(model_admin, LabelScopedAdmin):
            raise Http404("No such object.")
        try:
            obj = model_admin.get_queryset(request).filter(pk=object_id).first()
        except (ValueError, ValidationError):
            obj = None
        if obj is None or not hasattr(obj, "get_absolute_url"):
            raise Http404("No such object.")
        return redirect(obj.get_absolute_url())
