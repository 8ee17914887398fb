"""The demo accounts `seed_demo` creates, and their published passwords.

Plain data with no Django import, so `make run` can print them before anything is set up. The
passwords are public: `seed_demo` refuses to run without DEBUG unless forced, and these accounts
must never exist on a real deployment.
"""

FAN_PASSWORD = "demo-fan"
LABEL_PASSWORD = "demo-label"
OPERATOR_PASSWORD = "demo-operator"

OPERATOR = "operator"
FANS = ("ada", "ben", "chloe", "dmitri")
# Everyday listeners who fill the history (sessions, votes, chat); they can log in too.
LISTENERS = tuple(f"listener{i:02d}" for i in range(1, 13))
# label slug -> ((username, role), ...); roles are labels.Role values.
LABEL_STAFF = {
    "northern-lights-records": (("nora", "owner"), ("nils", "manager"), ("nina", "analyst")),
    "saltwater-sound": (("sam", "owner"), ("sasha", "manager"), ("sid", "analyst")),
}
LABEL_NAMES = {
    "northern-lights-records": "Northern Lights Records",
    "saltwater-sound": "Saltwater Sound",
}


def demo_logins() -> list[tuple[str, str, str]]:
    """(who, username, password) for every account worth trying, in the order to show them."""
    rows = [("operator (superuser, /admin/)", OPERATOR, OPERATOR_PASSWORD)]
    for slug, staff in LABEL_STAFF.items():
        for username, role in staff:
            rows.append((f"{LABEL_NAMES[slug]} {role}", username, LABEL_PASSWORD))
    rows.extend(("fan", username, FAN_PASSWORD) for username in FANS)
    return rows
