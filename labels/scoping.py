"""Which label a portal request acts for, and what its role lets it do.

A user may sit at several labels; the one chosen last is kept in the session. Everything in the
portal reads the label from here, never from the request's parameters.
"""

from labels.models import Label, Membership, Role

SESSION_KEY = "labels.current_label_id"
_CACHE_ATTR = "_labels_current_membership"

EDIT_ROLES = frozenset({Role.OWNER, Role.MANAGER})
ALL_ROLES = frozenset({Role.OWNER, Role.MANAGER, Role.ANALYST})
OWNER_ROLES = frozenset({Role.OWNER})


_RANK = {Role.OWNER: 0, Role.MANAGER: 1, Role.ANALYST: 2}


def memberships_of(user) -> list[Membership]:
    """The user's seats, the one with most rights first (that is the default label)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    memberships = Membership.objects.filter(user=user).select_related("label")
    return sorted(memberships, key=lambda m: (_RANK.get(m.role, 9), m.label.name))


def current_membership(request) -> Membership | None:
    """The membership the request acts through: the session's choice, else the first label."""
    if hasattr(request, _CACHE_ATTR):
        return getattr(request, _CACHE_ATTR)
    memberships = memberships_of(request.user)
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    membership = next((m for m in memberships if m.label_id == chosen), None)
    if membership is None and memberships:
        membership = memberships[0]
    setattr(request, _CACHE_ATTR, membership)
    return membership


def current_label(request) -> Label | None:
    membership = current_membership(request)
    return membership.label if membership else None


def switch_label(request, label_id: int) -> Membership | None:
    """Make label_id the request's label if the user sits there; None (and no change) if not."""
    membership = next((m for m in memberships_of(request.user) if m.label_id == label_id), None)
    if membership is not None:
        request.session[SESSION_KEY] = membership.label_id
        setattr(request, _CACHE_ATTR, membership)
    return membership


def has_role(request, roles) -> bool:
    membership = current_membership(request)
    return membership is not None and membership.role in roles


def can_edit(request) -> bool:
    return has_role(request, EDIT_ROLES)


def is_owner(request) -> bool:
    return has_role(request, OWNER_ROLES)
