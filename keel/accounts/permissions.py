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
    # Off by default, also for the Company Administrator: a deliberate, separate opt-in.
    Permission("delete_all_crm_records", "Allow deletion of all CRM records", frozenset(), admin_only=True),
]
PERMISSIONS_BY_CODE = {p.code: p for p in PERMISSIONS}


def default_permissions(role_kind):
    return sorted(p.code for p in PERMISSIONS if role_kind in p.default_roles)
