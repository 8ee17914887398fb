"""Sign-in for the fan site and the label portal alike, with failures rate limited."""

import hashlib

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from config.rate_limit import rate_limit_allow_sync, rate_limit_spent_sync


class ThrottledAuthenticationForm(AuthenticationForm):
    """Sign-in that stops password guessing: past the failures allowed per username and per
    address (config/rate_limit.py), it refuses without checking the password at all."""

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
