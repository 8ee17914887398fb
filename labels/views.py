"""Portal views outside the model admins: the label switcher and accepting an invitation."""

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from labels import scoping, services
from labels.models import Invitation


@require_POST
def switch_label(request):
    try:
        label_id = int(request.POST.get("label", ""))
    except ValueError:
        raise Http404("No such label.")
    membership = scoping.switch_label(request, label_id)
    if membership is None:
        raise Http404("No such label.")
    messages.info(request, f"You are now working for {membership.label}.")
    return redirect("label:index")


@require_http_methods(["GET", "POST"])
def invite_accept(request, token):
    from labels.admin import label_site

    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    invitation = Invitation.objects.select_related("label").filter(token=token).first()
    if invitation is None:
        raise Http404("No such invitation.")
    error = None
    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except services.InvitationError as exc:
            error = str(exc)
        else:
            scoping.switch_label(request, membership.label_id)
            messages.success(request, f"Welcome to {membership.label}.")
            return redirect("label:index")
    context = {
        **label_site.each_context(request),
        "title": f"Join {invitation.label}",
        "invitation": invitation,
        "error": error,
    }
    return TemplateResponse(
        request, "labels/invite_accept.html", context, status=400 if error else 200
    )
