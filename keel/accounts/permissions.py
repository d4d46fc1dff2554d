"""The permission catalogue. Roles store permission codes; this module says what each code means."""

from dataclasses import dataclass

ADMIN = "admin"
MANAGER = "manager"
MEMBER = "member"
BUILTIN_ROLES = {
    ADMIN: "Company Administrator",
    MANAGER: "Manager",
    MEMBER: "Member",
}


@dataclass(frozen=True)
class Permission:
    code: str
    label: str
    default_roles: frozenset
    admin_only: bool = False  # may be granted to the Company Administrator role only


PERMISSIONS = [
    Permission("manage_contacts", "Manage contacts", frozenset({ADMIN, MANAGER, MEMBER})),
    Permission("import_contacts", "Import contacts", frozenset({ADMIN, MANAGER})),
    Permission("manage_marketing", "Manage campaigns and workflows", frozenset({ADMIN, MANAGER})),
    Permission("manage_integrations", "Manage integrations", frozenset({ADMIN})),
    Permission("manage_users", "Manage users", frozenset({ADMIN})),
    Permission("manage_roles", "Manage roles and permissions", frozenset({ADMIN})),
    Permission("view_audit_log", "View the audit log", frozenset({ADMIN}), admin_only=True),
    Permission("export_company_data", "Export company data", frozenset({ADMIN}), admin_only=True),
    Permission("delete_company_data", "Delete company data", frozenset({ADMIN}), admin_only=True),
    Permission("restore_company_data", "Restore company data from an export", frozenset({ADMIN}), admin_only=True),
    # Off by default, also for the Company Administrator: a deliberate, separate opt-in.
    Permission("delete_all_crm_records", "Allow deletion of all CRM records", frozenset(), admin_only=True),
]
PERMISSIONS_BY_CODE = {p.code: p for p in PERMISSIONS}
MANAGE_CONTACTS, IMPORT_CONTACTS, MANAGE_MARKETING = "manage_contacts", "import_contacts", "manage_marketing"


def default_permissions(role_kind):
    return sorted(p.code for p in PERMISSIONS if role_kind in p.default_roles)


# The Company Administrator role always keeps these, so that a company can never lock itself out of managing its
# users and roles.
ALWAYS_ON_FOR_ADMIN = frozenset({"manage_users", "manage_roles"})


def offered_permissions(role):
    """The permissions a role's edit page offers: admin-only ones appear on the Company Administrator role only."""
    return [p for p in PERMISSIONS if role.is_company_admin or not p.admin_only]


def permission_map(role):
    """``{code: granted}`` for every permission in the catalogue: the API's shape of a role's permissions."""
    return {p.code: role.has(p.code) for p in PERMISSIONS}
