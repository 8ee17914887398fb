import re

from django.core.exceptions import ValidationError

_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{2}\d{5}$")


def normalize_isrc(value: str) -> str:
    """Upper-case an ISRC, drop hyphens and spaces; raise ValidationError when malformed."""
    cleaned = re.sub(r"[\s-]", "", value or "").upper()
    if not _ISRC.match(cleaned):
        raise ValidationError(
            "%(value)s is not a valid ISRC: expected 12 characters like USRC17607839 "
            "(country, registrant, year, designation).",
            params={"value": value},
            code="invalid_isrc",
        )
    return cleaned
