"""Rooms on both admin sites: operators' /admin/ (every table, unscoped) and the label portal
(the label's official rooms with their branding, moderators, premieres and campaigns)."""

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from labels.admin import LabelScopedAdmin, LabelScopedInline, label_site, related_only
from labels.scoped_admin import label_staff
from labels.scoping import current_label
from rooms import models as m
from rooms.services import room_changed

COLOUR_WIDGET = forms.TextInput(
    attrs={"placeholder": "#1db954", "pattern": "#[0-9a-fA-F]{6}", "size": 9, "class": "rt-colour"}
)


def _swatch(colour: str) -> str:
    if not colour:
        return "—"
    return format_html(
        '<span class="rt-swatch" style="background:{}"></span> <code>{}</code>', colour, colour
    )


class RoomChangedMixin:
    """After the room and its related rows are saved, its open pages update live."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        room_changed(room=form.instance)


# -- the label portal --------------------------------------------------------------------------
class ModeratorInline(LabelScopedInline):
    model = m.RoomRole
    label_path = "room__label"
    fields = ("user", "role")
    verbose_name = "staff role"
    verbose_name_plural = "Moderators and DJs from your staff"
    staff_roles = (m.RoomRole.Kind.MODERATOR, m.RoomRole.Kind.DJ)

    def scope_queryset(self, request, queryset):
        # Roles fans hold in the room are theirs to manage in the room, not here.
        label = current_label(request)
        return queryset.filter(role__in=self.staff_roles, user__in=label_staff(label.pk))

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role":
            kwargs["choices"] = [(k.value, k.label) for k in self.staff_roles]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


class LabelRoomForm(forms.ModelForm):
    class Meta:
        model = m.Room
        fields = (
            "name", "slug", "description", "owner", "label", "artist", "genres", "mode",
            "visibility", "is_featured", "venue_name", "latitude", "longitude",
            "theme_primary", "theme_accent", "banner", "logo", "pinned_message",
            "allowed_artists", "allowed_labels", "max_queued_per_user", "no_repeat_window",
            "downvote_ratio", "autofill", "dj_grace_seconds", "invite_token",
        )  # fmt: skip
        widgets = {
            "theme_primary": COLOUR_WIDGET,
            "theme_accent": COLOUR_WIDGET,
            "allowed_labels": forms.CheckboxSelectMultiple,
        }
        help_texts = {
            "allowed_artists": "Only these artists' tracks may be queued. Empty: any artist.",
            "allowed_labels": "Only this label's tracks may be queued. Empty: any label.",
            "pinned_message": "Shown at the top of the room page; updates live.",
        }


@admin.register(m.Room, site=label_site)
class LabelRoomAdmin(RoomChangedMixin, LabelScopedAdmin):
    label_path = "label"
    form = LabelRoomForm
    list_display = ("name", "artist", "visibility", "primary", "listener_count", "open_link")
    list_filter = ("visibility", "mode", related_only("artist"))
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("artist", "allowed_artists")
    inlines = [ModeratorInline]
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "artist", "genres", "visibility",
                           "mode")}),
        ("Branding", {"fields": ("theme_primary", "theme_accent", "banner", "logo",
                                 "pinned_message")}),
        ("Catalog restriction", {"fields": ("allowed_artists", "allowed_labels")}),
        ("Rules", {"classes": ("collapse",), "fields": (
            "max_queued_per_user", "no_repeat_window", "downvote_ratio", "autofill",
            "dj_grace_seconds")}),
    )  # fmt: skip

    @admin.display(description="theme")
    def primary(self, obj):
        return _swatch(obj.theme_primary)

    @admin.display(description="room page")
    def open_link(self, obj):
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">open ↗</a>', obj.get_absolute_url()
        )

    def view_on_site(self, obj):
        return obj.get_absolute_url()


class PremiereForm(forms.ModelForm):
    class Meta:
        model = m.Premiere
        fields = ("title", "room", "track", "starts_at")

    def clean(self):
        cleaned = super().clean()
        starts_at = cleaned.get("starts_at")
        # A premiere that has not started yet cannot be moved into the past either: it would
        # start at once with a start time already gone.
        if not self.instance.started and "starts_at" in self.changed_data:
            if starts_at and starts_at <= timezone.now():
                self.add_error("starts_at", "A premiere starts in the future.")
        track = cleaned.get("track")
        if track is not None and not track.playable:
            self.add_error("track", "This track has no audio yet; upload it first.")
        return cleaned


class PremiereChangedMixin:
    """Open room pages show the countdown: they learn of a new, moved or dropped premiere live."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        moved_from = form.initial.get("room") if change else None
        _premieres_changed({obj.room_id, moved_from})

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        _premieres_changed({obj.room_id})

    def delete_queryset(self, request, queryset):
        room_ids = set(queryset.values_list("room_id", flat=True))
        super().delete_queryset(request, queryset)
        _premieres_changed(room_ids)


@admin.register(m.Premiere, site=label_site)
class LabelPremiereAdmin(PremiereChangedMixin, LabelScopedAdmin):
    label_path = "label"
    form = PremiereForm
    list_display = ("title", "room", "track", "starts_at", "started")
    list_filter = ("started", related_only("room"))
    search_fields = ("title",)
    autocomplete_fields = ("room", "track")
    date_hierarchy = "starts_at"


def _premieres_changed(room_ids: set) -> None:
    for room in m.Room.objects.filter(pk__in=room_ids - {None}):
        room_changed(room=room)


class CampaignForm(forms.ModelForm):
    class Meta:
        model = m.Campaign
        fields = ("name", "room", "starts_on", "ends_on")

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("starts_on"), cleaned.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", "The campaign cannot end before it starts.")
        room = cleaned.get("room")
        if room and starts and ends and ends >= starts:
            # One campaign at a time per room: a second one over the same days features nothing
            # more and would make the room's plan hard to read.
            overlapping = (
                m.Campaign.objects.filter(room=room, starts_on__lte=ends, ends_on__gte=starts)
                .exclude(pk=self.instance.pk)
                .first()
            )
            if overlapping:
                self.add_error(
                    "starts_on",
                    f"{room} already has the campaign \u201c{overlapping.name}\u201d from "
                    f"{overlapping.starts_on:%Y-%m-%d} to {overlapping.ends_on:%Y-%m-%d}; "
                    "choose other days or change that campaign.",
                )
        return cleaned


@admin.register(m.Campaign, site=label_site)
class LabelCampaignAdmin(LabelScopedAdmin):
    label_path = "label"
    form = CampaignForm
    list_display = ("name", "room", "starts_on", "ends_on", "is_active")
    list_filter = (related_only("room"),)
    search_fields = ("name",)
    autocomplete_fields = ("room",)

    @admin.display(description="active now", boolean=True)
    def is_active(self, obj):
        return obj.starts_on <= timezone.localdate() <= obj.ends_on


# -- operators ---------------------------------------------------------------------------------
class RoomRoleInline(admin.TabularInline):
    model = m.RoomRole
    extra = 0
    autocomplete_fields = ("user",)


class OperatorRoomForm(LabelRoomForm):
    class Meta(LabelRoomForm.Meta):
        widgets = {"theme_primary": COLOUR_WIDGET, "theme_accent": COLOUR_WIDGET}


@admin.register(m.Room)
class RoomAdmin(RoomChangedMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "label", "owner", "visibility", "is_featured",
                    "listener_count", "created_at")  # fmt: skip
    list_filter = ("visibility", "mode", "is_featured", "label")
    search_fields = ("name", "slug", "owner__username", "label__name")
    autocomplete_fields = ("owner", "label", "artist", "allowed_artists")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [RoomRoleInline]
    form = OperatorRoomForm


def _simple(model, display, filters=(), search=(), raw=()):
    admin.site.register(
        model,
        type(
            f"{model.__name__}Admin",
            (admin.ModelAdmin,),
            {"list_display": display, "list_filter": filters, "search_fields": search,
             "raw_id_fields": raw, "list_select_related": True},
        ),
    )  # fmt: skip


_simple(
    m.RoomRole,
    ("room", "user", "role"),
    ("role",),
    ("room__name", "user__username"),
    ("room", "user"),
)
_simple(
    m.Sanction,
    ("room", "user", "kind", "until", "created_by", "created_at"),
    ("kind",),
    ("room__name", "user__username"),
    ("room", "user", "created_by"),
)
_simple(
    m.QueueEntry,
    ("id", "room", "track", "added_by", "status", "upvotes", "downvotes", "created_at"),
    ("status", "autofilled"),
    ("room__name", "track__title"),
    ("room", "track", "added_by"),
)
_simple(
    m.Vote,
    ("entry", "user", "value", "updated_at"),
    ("value",),
    ("user__username",),
    ("entry", "user"),
)
_simple(m.SkipVote, ("entry", "user", "created_at"), (), ("user__username",), ("entry", "user"))
_simple(
    m.Playback,
    ("room", "current_entry", "started_at_ms", "ends_at_ms", "paused", "seq"),
    ("paused",),
    ("room__name",),
    ("room", "current_entry"),
)
_simple(
    m.Play,
    ("room", "track", "dj", "started_at", "listeners"),
    (),
    ("room__name", "track__title"),
    ("room", "entry", "track", "dj"),
)
_simple(
    m.ChatMessage,
    ("room", "user", "text", "created_at", "deleted_at"),
    (),
    ("text", "user__username", "room__name"),
    ("room", "user", "deleted_by"),
)
_simple(
    m.Favourite,
    ("user", "track", "room", "created_at"),
    (),
    ("user__username", "track__title"),
    ("user", "track", "room"),
)
_simple(
    m.DJSeat,
    ("room", "user", "position", "joined_at", "away_since"),
    (),
    ("room__name", "user__username"),
    ("room", "user"),
)
_simple(
    m.ModerationAction,
    ("room", "actor", "action", "target_user", "created_at"),
    ("action",),
    ("room__name", "actor__username"),
    ("room", "actor", "target_user"),
)
_simple(
    m.ListeningSession,
    ("room", "user", "started_at", "ended_at", "audio_active"),
    ("audio_active",),
    ("room__name", "user__username"),
    ("room", "user"),
)
_simple(
    m.Campaign,
    ("name", "label", "room", "starts_on", "ends_on"),
    ("label",),
    ("name", "room__name"),
    ("label", "room"),
)


@admin.register(m.Premiere)
class PremiereAdmin(PremiereChangedMixin, admin.ModelAdmin):
    list_display = ("title", "label", "room", "track", "starts_at", "started")
    list_filter = ("started", "label")
    search_fields = ("title", "room__name")
    raw_id_fields = ("label", "room", "track")
    list_select_related = True


_simple(
    m.ImpressionCount,
    ("room", "hour", "surface", "count"),
    ("surface",),
    ("room__name",),
    ("room",),
)
