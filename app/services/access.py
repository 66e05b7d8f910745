"""Who may do what: the permission table of the desk (SPEC S2).

A permission is `<module>-<action>`. Views declare their module; roles carry
permission sets. Code checks permissions, never role names.
"""

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.extensions import security

VIEW, CREATE, EDIT, DELETE = "view", "create", "edit", "delete"
ALL_ACTIONS = (VIEW, CREATE, EDIT, DELETE)

# Each module and the actions that exist for it at all. Clients are never
# deleted (SPEC C2) and the activity log is read-only (SPEC S3), so no role can
# be given those actions.
MODULES = {
    "branches": ALL_ACTIONS,
    "lockers": ALL_ACTIONS,
    "keys": ALL_ACTIONS,
    "clients": (VIEW, CREATE, EDIT),
    "rentals": ALL_ACTIONS,
    "maintenance": ALL_ACTIONS,
    "lost_found": (VIEW, CREATE, EDIT),
    "payments": (VIEW, CREATE, EDIT),
    "reports": (VIEW,),
    "activity": (VIEW,),
    "users": ALL_ACTIONS,
    "roles": ALL_ACTIONS,
    "settings": (VIEW, EDIT),
    # Messages to clients: the delivery log and templates (view), sending a reminder
    # now or a failed message again (create), editing the templates (edit).
    "messages": (VIEW, CREATE, EDIT),
    # Backups: the list and downloads (view), backing up now (create), restoring (edit).
    "backups": (VIEW, CREATE, EDIT),
    # Privacy (SPEC S5): deletion requests and a client's data export (view), recording a
    # deletion request (create), cancelling one (edit).
    "privacy": (VIEW, CREATE, EDIT),
}

SUPER_ADMIN = "Super Admin"
MANAGER = "Manager"
FRONT_DESK = "Front Desk"
ACCOUNTANT = "Accountant"

ROLE_LABELS = {
    SUPER_ADMIN: _l("Super Admin"),
    MANAGER: _l("Manager"),
    FRONT_DESK: _l("Front Desk"),
    ACCOUNTANT: _l("Accountant"),
}


def _grant(spec):
    """Expand {"module": "vced"} into the permission strings it names."""
    letters = {"v": VIEW, "c": CREATE, "e": EDIT, "d": DELETE}
    return {
        f"{module}-{letters[letter]}"
        for module, granted in spec.items()
        for letter in granted
        if letters[letter] in MODULES[module]
    }


ALL_PERMISSIONS = {f"{module}-{action}" for module, actions in MODULES.items() for action in actions}

DEFAULT_ROLES = {
    SUPER_ADMIN: (
        _l("Everything, including staff accounts, roles and settings"),
        ALL_PERMISSIONS,
    ),
    MANAGER: (
        _l("Runs the branch: lockers, clients, rentals, payments and reports"),
        _grant({
            "branches": "vce", "lockers": "vced", "keys": "vced", "clients": "vce",
            "rentals": "vced", "maintenance": "vced", "lost_found": "vce", "payments": "vce",
            "reports": "v", "activity": "v", "users": "v", "messages": "vce",
            "privacy": "vce",
        }),
    ),
    FRONT_DESK: (
        _l("Registers clients, hands out keys, rents lockers, takes cash"),
        _grant({
            "branches": "v", "lockers": "ve", "keys": "ve", "clients": "vce",
            "rentals": "vce", "maintenance": "vce", "lost_found": "vce", "payments": "vc",
            "messages": "vc",
        }),
    ),
    ACCOUNTANT: (
        _l("Payments, financial reports and exports"),
        _grant({
            "branches": "v", "lockers": "v", "clients": "v", "rentals": "v",
            "maintenance": "v", "payments": "vce", "reports": "v", "activity": "v",
            "messages": "v",
        }),
    ),
}


def role_label(name):
    """The translated name of a built-in role, or the name as stored."""
    return ROLE_LABELS.get(name, name)


def role_description(role):
    """The translated description of a built-in role, or the stored one."""
    default = DEFAULT_ROLES.get(role.name)
    return default[0] if default else role.description


def ensure_default_roles():
    """Create the four roles if missing. Existing roles keep their edited permissions."""
    for name, (description, permissions) in DEFAULT_ROLES.items():
        if security.datastore.find_role(name) is None:
            with force_locale("en"):
                stored_description = str(description)
            security.datastore.create_role(
                name=name, description=stored_description, permissions=sorted(permissions)
            )
    db.session.commit()


def can(user, module, action):
    """True if `user` may perform `action` on `module`."""
    if user is None or not user.is_authenticated:
        return False
    return user.has_permission(f"{module}-{action}")


def branch_record(model, record_id, by_user_id, *, refusal, missing, elsewhere, field=None):
    """The record `record_id` of `model` if `by_user_id` may act on its branch.

    Raises `refusal(missing, field)` when there is none and `refusal(elsewhere, field)`
    when it belongs to a branch the user is not limited to: a forged form is
    refused by the service whatever the screen offered.
    """
    record = db.session.get(model, record_id) if record_id is not None else None
    if record is None:
        raise refusal(missing, field)
    if not may_act_on_branch(by_user_id, record.branch_id):
        raise refusal(elsewhere, field)
    return record


def may_act_on_branch(user_id, branch_id):
    """False when `user_id` is staff limited to another branch (whatever a form sent)."""
    from app.models import User

    user = db.session.get(User, user_id) if user_id is not None else None
    return user is None or user.branch_id is None or user.branch_id == branch_id
