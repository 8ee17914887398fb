import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import slugify

from labels.models import Label

ISRC_HELP = (
    "12 characters: country (2 letters), registrant (3), year (2 digits), designation (5 digits)."
)


def validate_isrc(value: str) -> None:
    from catalog.isrc import normalize_isrc

    normalize_isrc(value)  # raises ValidationError with a clear message


class Genre(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:60]
        super().save(*args, **kwargs)


class Artist(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    label = models.ForeignKey(
        Label, on_delete=models.PROTECT, null=True, blank=True, related_name="artists"
    )
    bio = models.TextField(blank=True)
    follow_url = models.URLField(blank=True)
    buy_url = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["label", "name"])]

    def __str__(self) -> str:
        return self.name


def audio_upload_to(instance: "Track", filename: str) -> str:
    """audio/<label>/<title>-<random>.<ext>: media is public, so a file's address must not be
    guessable from its title (a track held back for a premiere would be heard before it)."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    title = slugify(instance.title)[:60] or "track"
    return f"audio/{instance.label_id or 'none'}/{title}-{secrets.token_urlsafe(12)}.{ext}"


class Track(models.Model):
    title = models.CharField(max_length=300)
    artists = models.ManyToManyField(Artist, related_name="tracks")
    # Denormalised "A, B feat. C" so listings and search need no join.
    artist_names = models.CharField(max_length=500, blank=True, editable=False)
    album = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(
        default=0, help_text="Read from the audio file when one is uploaded."
    )
    isrc = models.CharField(
        "ISRC",
        max_length=12,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_isrc],
        help_text=ISRC_HELP,
    )
    genres = models.ManyToManyField(Genre, blank=True, related_name="tracks")
    label = models.ForeignKey(
        Label, on_delete=models.PROTECT, null=True, blank=True, related_name="tracks"
    )
    external_uri = models.CharField(
        max_length=200, blank=True, help_text="e.g. spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    )
    audio = models.FileField(upload_to=audio_upload_to, blank=True, max_length=300)
    audio_mime = models.CharField(max_length=60, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["label", "title"])]

    def __str__(self) -> str:
        return f"{self.artist_names} — {self.title}" if self.artist_names else self.title

    def clean(self) -> None:
        if self.isrc:
            from catalog.isrc import normalize_isrc

            try:
                self.isrc = normalize_isrc(self.isrc)
            except ValidationError:
                # validate_isrc reports it on the field (full_clean runs the field validators
                # first); raising here again would repeat it above the form as a non-field error.
                pass
        if self.external_uri and ":" not in self.external_uri:
            raise ValidationError({"external_uri": "Use a URI such as spotify:track:<id>."})

    @property
    def playable(self) -> bool:
        return bool(self.audio) and self.duration_ms > 0
