"""The catalog on both admin sites: operators' /admin/ (everything) and the label portal (the
label's own artists and tracks, audio uploads and delivery imports)."""

from django import forms
from django.contrib import admin
from django.urls import path
from django.utils.html import format_html

from catalog import admin_import
from catalog.forms import AudioUploadField
from catalog.models import Artist, Genre, Track
from catalog.services import track_attach_audio, track_set_artists
from labels.admin import LabelScopedAdmin, label_site, related_only


def _duration(ms: int) -> str:
    seconds = round((ms or 0) / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}" if ms else "—"


class TrackForm(forms.ModelForm):
    audio_file = AudioUploadField(
        required=False, label="Audio file", help_text="Duration and missing tags are read from it."
    )

    class Meta:
        model = Track
        fields = ("title", "artists", "album", "isrc", "genres", "external_uri", "label")


class TrackAdminMixin:
    """Audio goes through track_attach_audio and artists through track_set_artists, so the
    duration and the denormalised artist names stay true whichever site edits a track."""

    form = TrackForm
    search_fields = ("title", "artist_names", "album", "isrc")
    readonly_fields = ("duration", "audio_mime", "current_audio", "artist_names")

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj):
        return _duration(obj.duration_ms)

    @admin.display(description="playable", boolean=True)
    def is_playable(self, obj):
        return obj.playable

    @admin.display(description="audio")
    def current_audio(self, obj):
        if not obj.audio:
            return "No audio yet."
        return format_html(
            '<audio controls preload="none" src="{}"></audio> <small>{}</small>',
            obj.audio.url,
            obj.audio_mime,
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        track = form.instance
        if "artists" in form.cleaned_data:
            track_set_artists(track=track, artists=list(form.cleaned_data["artists"]))
        upload = form.cleaned_data.get("audio_file")
        if upload:
            upload.seek(0)
            track_attach_audio(track=track, upload=upload)


# -- operators -------------------------------------------------------------------------------
@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Artist)
class ArtistAdmin(admin.ModelAdmin):
    list_display = ("name", "label", "slug", "created_at")
    list_filter = ("label",)
    search_fields = ("name", "slug", "label__name")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("label",)


@admin.register(Track)
class TrackAdmin(TrackAdminMixin, admin.ModelAdmin):
    list_display = ("title", "artist_names", "album", "label", "duration", "is_playable")
    list_filter = ("label", "genres")
    autocomplete_fields = ("artists", "label")
    fields = (
        "title", "artists", "artist_names", "album", "isrc", "genres", "label", "external_uri",
        "audio_file", "current_audio", "duration", "audio_mime",
    )  # fmt: skip


# -- the label portal ------------------------------------------------------------------------
@admin.register(Artist, site=label_site)
class LabelArtistAdmin(LabelScopedAdmin):
    label_path = "label"
    list_display = ("name", "track_count", "follow_url", "buy_url")
    search_fields = ("name",)
    fields = ("name", "slug", "bio", "follow_url", "buy_url")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="tracks")
    def track_count(self, obj):
        return obj.tracks.count()


@admin.register(Track, site=label_site)
class LabelTrackAdmin(TrackAdminMixin, LabelScopedAdmin):
    label_path = "label"
    list_display = ("title", "artist_names", "album", "duration", "is_playable", "isrc")
    list_filter = (related_only("artists"), related_only("genres"))
    autocomplete_fields = ("artists",)
    change_list_template = "labels/track_change_list.html"
    fieldsets = (
        (None, {"fields": ("title", "artists", "album", "isrc", "genres", "external_uri")}),
        ("Audio", {"fields": ("audio_file", "current_audio", "duration", "audio_mime")}),
    )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="catalog_track_import"),
            path(
                "import/<str:job>/",
                view(self.import_status_view),
                name="catalog_track_import_status",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        return admin_import.import_view(self, request)

    def import_status_view(self, request, job):
        return admin_import.import_status_view(self, request, job)
