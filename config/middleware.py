"""Requests refused before any view sees them."""

from django.http import HttpResponseBadRequest
from django.utils.deprecation import MiddlewareMixin


class RefuseNulMiddleware(MiddlewareMixin):
    """A NUL character in the query string is a 400 for every page and endpoint.

    PostgreSQL refuses NUL in text, so a search, filter or lookup carrying one could only fail,
    as a server error. Form fields refuse it already (Django's ProhibitNullCharactersValidator)
    and WebSocket frames in rooms/protocol.py.
    """

    def process_request(self, request):
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return HttpResponseBadRequest(
                    "Text in the address cannot contain NUL characters.",
                    content_type="text/plain; charset=utf-8",
                )
        return None
