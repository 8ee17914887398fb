"""Pages around the API: its docs, rendered here from the OpenAPI schema (no CDN), and the page
where a label member creates or replaces their token."""

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token

from labels.models import Membership

METHODS = ("get", "post", "put", "patch", "delete")


def _operations(schema: dict) -> list[dict]:
    out = []
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("description") or op.get("summary") or "",
                    "params": [
                        {
                            "name": p["name"],
                            "where": p.get("in", ""),
                            "required": p.get("required", False),
                            "type": p.get("schema", {}).get("type", ""),
                            "enum": p.get("schema", {}).get("enum")
                            or p.get("schema", {}).get("items", {}).get("enum"),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                }
            )
    return out


def docs(request):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return render(
        request,
        "analytics/api_docs.html",
        {"info": schema.get("info", {}), "operations": _operations(schema)},
    )


def token_rotate(*, user) -> Token:
    """A fresh token for the user; the old one stops working."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token(request):
    member = Membership.objects.filter(user=request.user).exists()
    shown = None
    if request.method == "POST" and member:
        shown = token_rotate(user=request.user).key
    has_token = Token.objects.filter(user=request.user).exists()
    return render(
        request,
        "analytics/api_token.html",
        {"member": member, "shown": shown, "has_token": has_token},
        status=200 if member else 403,
    )
