"""Sign-in for the fan site and the label portal alike, with failures rate limited."""

import hashlib

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from config.rate_limit import rate_limit_allow_sync, rate_limit_spent_sync


class ThrottledAuthenticationForm(AuthenticationForm):
    """Sign-in that stops password guessing: past the failures allowed for a username from one
    address, for a username from everywhere, or from one address in all (config/rate_limit.py),
    it refuses without checking the password at all. A username's own budget is larger than its
    budget per address, so a few failures elsewhere do not lock its owner out, while guesses
    spread over many addresses still run out."""

    THROTTLED = "Too many failed sign-ins. Wait a few minutes, then try again."
    throttled = False

    def _budgets(self) -> list[tuple[str, str]]:
        username = (self.cleaned_data.get("username") or "").strip().lower()
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        # Hashed: any text can be a username, and cache keys must stay plain.
        budgets = [
            ("login_user_address", hashlib.sha256(f"{username}\0{address}".encode()).hexdigest()),
            ("login_user", hashlib.sha256(username.encode()).hexdigest()),
        ]
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
