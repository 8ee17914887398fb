"""Form pieces for catalog uploads, for the admin and any other form that takes audio.

Use ``AudioUploadField`` for a track's audio in a form, then store the cleaned file with
``catalog.services.track_attach_audio(track=..., upload=form.cleaned_data["audio"])``: the field
has already read the file, and ``upload.audio_info`` holds what it found.
"""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

from catalog.audio import ACCEPTED, audio_read_metadata

AUDIO_ACCEPT = ".wav,.ogg,.oga,.opus,.flac,.m4a,.aac,.mp3,audio/*"


def validate_audio_upload(upload) -> None:
    """A validator for any FileField: raises ValidationError unless rooms can play the file."""
    if upload is None:
        return
    upload.audio_info = audio_read_metadata(upload, filename=upload.name)


class AudioUploadField(forms.FileField):
    default_error_messages = {
        "too_large": "Audio files may be at most %(limit)s.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", f"{ACCEPTED}; at most {_limit()}.")
        kwargs.setdefault("widget", forms.ClearableFileInput(attrs={"accept": AUDIO_ACCEPT}))
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        cleaned = super().clean(data, initial)
        # Only a new upload is checked; the file already stored was checked when it arrived.
        if cleaned and cleaned is not initial and hasattr(cleaned, "size"):
            if cleaned.size > settings.MAX_AUDIO_UPLOAD_BYTES:
                raise ValidationError(
                    self.error_messages["too_large"], code="too_large", params={"limit": _limit()}
                )
            validate_audio_upload(cleaned)
        return cleaned


def _limit() -> str:
    return filesizeformat(settings.MAX_AUDIO_UPLOAD_BYTES)
