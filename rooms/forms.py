"""Forms of the fan-facing pages: creating a room, signing up, signing in."""

import hashlib

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError

from catalog.models import Genre
from rooms import services
from rooms.models import Room
from rooms.rate_limit import rate_limit_allow_sync, rate_limit_spent_sync
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


class ThrottledAuthenticationForm(AuthenticationForm):
    """Sign-in that stops password guessing: past the failures allowed per username and per
    address (rooms/rate_limit.py), it refuses without checking the password at all."""

    THROTTLED = "Too many failed sign-ins. Wait a few minutes, then try again."
    throttled = False

    def _budgets(self) -> list[tuple[str, str]]:
        username = (self.cleaned_data.get("username") or "").strip().lower()
        # Hashed: any text can be a username, and cache keys must stay plain.
        budgets = [("login_user", hashlib.sha256(username.encode()).hexdigest()[:32])]
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        if address:
            budgets.append(("login_ip", address))
        return budgets

    def clean(self):
        budgets = self._budgets()
        if any(rate_limit_spent_sync(action=a, who=who) for a, who in budgets):
            self.throttled = True
            raise ValidationError(self.THROTTLED, code="throttled")
        try:
            return super().clean()
        except ValidationError:
            if self.user_cache is None:  # a wrong password, not a right one refused
                for action, who in budgets:
                    rate_limit_allow_sync(action=action, who=who)
            raise


def throttled_status(response):
    """A sign-in page refused for too many failures answers 429, for clients and logs to see."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    if getattr(form, "throttled", False):
        response.status_code = 429
    return response
