"""What counts as text a person typed: something visible, no control characters."""

import unicodedata

# Line breaks and tabs are kept in chat; every other control character is dropped.
KEEP = frozenset("\n\t")


def text_clean(text: str) -> str:
    """The text without control characters (C0, C1, DEL) other than line breaks and tabs."""
    return "".join(c for c in text if c in KEEP or unicodedata.category(c) != "Cc")


def text_visible(text: str) -> bool:
    """True when the text shows something: not only spaces, control or format characters (such
    as zero-width spaces and joiners, or direction marks)."""
    return any(not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf") for c in text)
