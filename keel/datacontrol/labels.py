"""Words people read on the data-control pages instead of internal names: entities (``data_jobs``), export scopes
(``audit_log``) and durations."""

# What the rows of each entity are, as a person reads them; an entity missing here reads as its name with spaces
# (a model added later is still shown, only less nicely).
ENTITY_LABELS = {
    "roles": "Roles",
    "contacts": "Contacts",
    "contact_lists": "Contact lists",
    "tags": "Tags",
    "users": "Users",
    "contact_events": "Contact history events",
    "contact_tags": "Tags on contacts",
    "list_memberships": "Contacts in lists",
    "api_tokens": "API tokens",
    "notices": "In-app notices",
    "user_sessions": "Login sessions",
    "audit_events": "Audit log entries",
    "attachments": "Contact attachments",
    "notes": "Contact notes",
    "integration_connections": "Integration connections",
    "data_jobs": "Imports, exports and deletions (their records)",
    "campaigns": "Campaigns",
    "workflows": "Workflows",
    "export_archives": "Export archives",
    "campaign_recipients": "Campaign recipients",
    "workflow_enrollments": "Workflow enrollments",
    "files": "Stored files",
}

SCOPE_LABELS = {
    "contacts": "Contacts",
    "campaigns": "Campaigns",
    "workflows": "Workflows",
    "users": "Users",
    "integrations": "Integrations",
    "audit_log": "Audit log",
}


def entity_label(entity):
    return ENTITY_LABELS.get(entity) or entity.replace("_", " ").capitalize()


def scope_label(code):
    return SCOPE_LABELS.get(code) or code.replace("_", " ").capitalize()


def duration_text(seconds):
    """37 → "less than a minute", 150 → "about 3 minutes", 7500 → "about 2 hours 5 minutes"."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} minute{'' if minutes == 1 else 's'}"
    hours, minutes = divmod(minutes, 60)
    text = f"about {hours} hour{'' if hours == 1 else 's'}"
    return f"{text} {minutes} minute{'' if minutes == 1 else 's'}" if minutes else text
