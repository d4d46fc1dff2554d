"""The audit log as people read it: each action as a sentence, its details as labelled, readable values.

The stored codes (``export.requested``) stay as they are for the API and the export; only pages use these words.
An action not listed here still reads as a sentence made from its code ("Integration paused").
"""

from keel.datacontrol.labels import entity_label, scope_label

ACTIONS = {
    "api_token.created": "Created an API token",
    "backup.schedule_set": "Set the scheduled backups",
    "backup.schedule_deleted": "Turned off scheduled backups",
    "backup.run_now": "Ran a scheduled backup now",
    "backup.destination_tested": "Tested the backup bucket",
    "backup.retired": "Removed an old scheduled backup (retention)",
    "backup.skipped": "A scheduled backup was skipped",
    "api_token.revoked": "Revoked an API token",
    "api_token.revoked_all": "Revoked every API token of a user",
    "campaign.started": "Started a campaign",
    "campaign.stopped": "Stopped a campaign",
    "company.created": "Created the company",
    "company.deletion_requested": "Requested the deletion of the company's data",
    "contact.deleted": "Deleted a contact",
    "contact.updated": "Changed a contact",
    "contacts.bulk_deleted": "Deleted contacts in bulk",
    "contacts.bulk_deletion_failed": "A bulk deletion of contacts did not finish",
    "crm.deletion_started": "Started deleting all CRM records",
    "crm.deleted_all": "Deleted all CRM records",
    "crm.deletion_failed": "The deletion of all CRM records did not finish",
    "export.requested": "Started an export of company data",
    "export.command_line": "Exported company data from the command line",
    "export.completed": "An export of company data was ready",
    "export.failed": "An export of company data failed",
    "export.downloaded": "Downloaded an export of company data",
    "export.deleted": "Deleted an export of company data",
    "export.expired": "An export of company data expired and its file was deleted",
    "export.scheduled": "A scheduled backup started",
    "import.started": "Started an import of contacts",
    "import.succeeded": "An import of contacts finished",
    "import.failed": "An import of contacts failed",
    "import.cancelled": "An import of contacts was cancelled",
    "integration.connected": "Connected an integration",
    "integration.disconnected": "Disconnected an integration",
    "job.cancel_requested": "Asked to cancel an operation",
    "user.created": "Added a user",
    "user.invited": "Invited a user",
    "user.logged_in": "Logged in",
    "user.login_failed": "A login failed",
    "user.password_set": "Set a password",
    "user.password_reset": "Reset a user's password",
    "user.role_changed": "Changed a user's role",
    "user.deactivated": "Deactivated a user",
    "user.reactivated": "Reactivated a user",
    "workflow.active": "Activated a workflow",
    "workflow.inactive": "Deactivated a workflow",
}

KEYS = {
    "ip": "IP address",
    "sha256": "SHA-256",
    "job_id": "Operation",
    "receipt_id": "Receipt ID",
    "before": "Role before",
    "after": "Role after",
    "via": "Through",
    "size": "Size (bytes)",
}

JOB_KINDS = {
    "import": "Import of contacts",
    "export": "Export of company data",
    "crm_deletion": "Deletion of all CRM records",
    "company_deletion": "Deletion of company data",
    "restore": "Restore from an export",
    "contact_deletion": "Deletion of contacts",
}


def action_sentence(action):
    if action in ACTIONS:
        return ACTIONS[action]
    return action.replace(".", " ").replace("_", " ").capitalize()


def detail_lines(event):
    """``[(label, text), ...]`` for an event's metadata, in a stable order."""
    return [(key_label(key), value_text(key, value)) for key, value in event.metadata.items()]


def key_label(key):
    return KEYS.get(key) or key.replace("_", " ").capitalize()


def value_text(key, value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if key == "scope" and isinstance(value, list):
        return ", ".join(scope_label(str(code)) for code in value)
    if key == "kind" and value in JOB_KINDS:
        return JOB_KINDS[value]
    if key == "fields" and isinstance(value, list):
        return ", ".join(str(name).replace("_", " ") for name in value)
    if isinstance(value, list):
        return ", ".join(value_text(key, item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{entity_label(str(k))}: {value_text(k, v)}" for k, v in value.items())
    return str(value)
