"""Labels on both admin sites: the operators' /admin/ and the label portal's staff pages.

``label_site`` and ``LabelScopedAdmin`` are what catalog/admin.py and rooms/admin.py register
their portal admins with.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from labels import scoping, services
from labels.models import Invitation, Label, Membership, Role
from labels.scoped_admin import LabelScopedAdmin, LabelScopedInline, related_only
from labels.sites import LabelAdminSite

__all__ = ["LabelScopedAdmin", "LabelScopedInline", "label_site", "related_only"]

label_site = LabelAdminSite(name="label")
admin.site.site_header = "Roomtone operators"
admin.site.site_title = "Roomtone operators"


# -- the portal: staff pages, owners only ------------------------------------------------------
def _last_owner(membership: Membership) -> bool:
    return (
        membership.role == Role.OWNER
        and not Membership.objects.filter(label_id=membership.label_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


class StaffForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("role",)

    def clean_role(self):
        role = self.cleaned_data["role"]
        if role != Role.OWNER and self.instance.pk:
            stored = Membership.objects.get(pk=self.instance.pk)
            if _last_owner(stored):
                raise ValidationError(
                    "A label needs at least one owner: make someone else owner first."
                )
        return role


@admin.register(Membership, site=label_site)
class StaffAdmin(LabelScopedAdmin):
    label_path = "label"
    view_roles = edit_roles = scoping.OWNER_ROLES
    list_display = ("user", "email", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "user__email")
    fields = ("user", "email", "role")
    readonly_fields = ("user", "email")
    form = StaffForm
    actions = None

    @admin.display(description="email")
    def email(self, obj):
        return obj.user.email

    def allow(self, request, action, obj):
        # Staff join through invitations, never by picking from every user of the service.
        if action == "add":
            return False
        return not (action == "delete" and obj is not None and _last_owner(obj))

    def save_model(self, request, obj, form, change):
        try:
            services.membership_set_role(membership=obj, role=obj.role)
        except ValidationError as exc:
            messages.error(request, exc.messages[0])

    def delete_model(self, request, obj):
        try:
            services.membership_remove(membership=obj, actor=request.user)
        except ValidationError as exc:
            messages.error(request, exc.messages[0])


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ("email", "role")


@admin.register(Invitation, site=label_site)
class InvitationAdmin(LabelScopedAdmin):
    label_path = "label"
    view_roles = edit_roles = scoping.OWNER_ROLES
    form = InvitationForm
    list_display = ("email", "role", "invited_by", "created_at", "status")
    list_filter = ("role",)
    search_fields = ("email",)

    @admin.display(description="status")
    def status(self, obj):
        return f"accepted {obj.accepted_at:%Y-%m-%d}" if obj.accepted_at else "pending"

    def get_fields(self, request, obj=None):
        return ("email", "role") if obj is None else ("email", "role", "invited_by", "status")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("email", "role", "invited_by", "status")

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = services.invitation_create(
            label=scoping.current_label(request),
            email=obj.email,
            role=obj.role,
            invited_by=request.user,
            site_url=request.build_absolute_uri("/"),
        )
        obj.pk = created.pk
        obj.token = created.token
        messages.info(request, f"Invitation emailed to {created.email}.")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            label = scoping.current_label(request)

            class Checked(form):
                def clean_email(self):
                    email = self.cleaned_data["email"].strip()
                    if Membership.objects.filter(label=label, user__email__iexact=email).exists():
                        raise ValidationError("Someone with this email is already on the staff.")
                    return email

            return Checked
        return form


# -- the operators' site -----------------------------------------------------------------------
class MembershipInline(admin.TabularInline):
    """A label's staff on its page: roles change here, people are added and moved on the
    membership pages (a membership's person and label stay what they were: rooms hear only
    a membership's delete, rooms/signals.py)."""

    model = Membership
    extra = 0
    readonly_fields = ("user",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "website", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "label", "role", "created_at")
    list_filter = ("role", "label")
    search_fields = ("user__username", "user__email", "label__name")
    autocomplete_fields = ("user", "label")

    def get_readonly_fields(self, request, obj=None):
        # Moving a membership to another person or label would leave the roles the first label
        # gave in its rooms behind: remove it and add another instead.
        return ("user", "label") if obj is not None else ()

    # The roles the label gave in its rooms go with a membership (rooms/signals.py); these name
    # the operator who removed it in the rooms' audit.
    def delete_model(self, request, obj):
        obj.removed_by = request.user
        obj.delete()

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Invitation)
class OperatorInvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "label", "role", "invited_by", "created_at", "accepted_at")
    list_filter = ("role", "label")
    search_fields = ("email", "label__name")
    readonly_fields = ("token", "created_at")
    autocomplete_fields = ("label", "invited_by")
