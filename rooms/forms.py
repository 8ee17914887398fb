"""Forms of the fan-facing pages: creating a room, signing up."""

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError

from catalog.models import Genre
from rooms import services
from rooms.models import Room
from rooms.text import text_clean, text_visible


class RoomCreateForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000
    )
    genres = forms.ModelMultipleChoiceField(
        queryset=Genre.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    mode = forms.ChoiceField(choices=Room.Mode.choices, initial=Room.Mode.JUKEBOX)
    visibility = forms.ChoiceField(choices=Room.Visibility.choices, initial=Room.Visibility.PUBLIC)

    def clean_name(self) -> str:
        name = text_clean(self.cleaned_data["name"]).replace("\n", " ").replace("\t", " ").strip()
        if not text_visible(name):
            raise forms.ValidationError("Give the room a name.")
        return name

    def create(self, *, owner) -> Room | None:
        """The new room, or None with the service's refusal added to the form's errors."""
        data = self.cleaned_data
        try:
            return services.room_create(
                owner=owner,
                name=data["name"],
                description=data["description"],
                genres=list(data["genres"]),
                mode=data["mode"],
                visibility=data["visibility"],
            )
        except ValidationError as exc:
            self.add_error(None, exc)
            return None


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=True, help_text="For resetting your password; never shown.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email exists; sign in instead.")
        return email
