"""What restore does beyond new ids for the few models whose rows need it (docs/restore.md, What comes back).

Every other tenant model is restored by ``Adapter`` as it is: a row of the archive becomes a row of the company.
"""

import os
import secrets

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from keel.accounts import permissions
from keel.accounts.models import Role, User
from keel.datacontrol import graph


class Adapter:
    """Rows become model instances of the company; ``after_create`` runs inside the batch's transaction."""

    def build(self, restorer, model, rows):
        built = []
        for row in rows:
            old = row.pop("id", None)
            obj = self.make(restorer, model, old, row)
            if obj is not None:
                built.append((old, obj))
        return built

    def make(self, restorer, model, old, row):
        return model(company=restorer.company, **row)

    def after_create(self, restorer, objects):
        pass


class RoleAdapter(Adapter):
    """Merged by name with the company's roles (a built-in role also by its kind); others come back as they were.

    A merged role keeps its current permissions: a restore never changes what the restoring administrator's own
    role allows.
    """

    def __init__(self):
        self.existing = None

    def make(self, restorer, model, old, row):
        if self.existing is None:
            roles = list(Role.objects.filter(company=restorer.company))
            self.existing = {r.name.casefold(): r for r in roles} | {
                r.kind: r for r in roles if r.kind in permissions.BUILTIN_ROLES
            }
        match = self.existing.get(row["name"].casefold()) or self.existing.get(row.get("kind"))
        if match is not None:
            restorer.ids.assign(graph.entity_name(model), [(old, match.pk)])
            return None
        return super().make(restorer, model, old, row)


class UserAdapter(Adapter):
    """The restoring administrator, and anyone whose e-mail the company already has, are merged into the existing
    account; an address that belongs to another company's account is skipped; the others come back without a
    usable password (invited when the restore asks for it)."""

    def make(self, restorer, model, old, row):
        email = (row.get("email") or "").lower()
        existing = User.objects.filter(email=email).first()
        if existing is not None and existing.company_id == restorer.company.pk:
            restorer.ids.assign(graph.entity_name(model), [(old, existing.pk)])
            return None
        if existing is not None:
            restorer.skip("users", old, "the e-mail address belongs to an account in another company")
            return None
        user = super().make(restorer, model, old, {**row, "email": email})
        user.set_unusable_password()
        return user

    def after_create(self, restorer, objects):
        if restorer.invite_users:
            restorer.invited.extend(user.pk for _, user in objects if user.is_active)


class ApiTokenAdapter(Adapter):
    """Names and prefixes only: an export never holds a token, so a restored token can never be used."""

    def make(self, restorer, model, old, row):
        token = super().make(restorer, model, old, row)
        token.token_hash = secrets.token_hex(32)  # the hash of no token anyone holds
        token.revoked_at = token.revoked_at or timezone.now()
        return token


class IntegrationAdapter(Adapter):
    """Metadata only: credentials are never exported, so the connection needs reconnecting."""

    def make(self, restorer, model, old, row):
        connection = super().make(restorer, model, old, row)
        connection.encrypted_access_token = ""
        connection.revoke_url = ""
        return connection


class CampaignAdapter(Adapter):
    """A campaign comes back stopped or as it ended, never sending: a restore must not e-mail anyone."""

    def make(self, restorer, model, old, row):
        campaign = super().make(restorer, model, old, row)
        if campaign.status in model.ACTIVE_STATUSES:
            campaign.status = model.Status.STOPPED
        campaign.heartbeat_at = None
        return campaign


class WorkflowAdapter(Adapter):
    """Workflows come back inactive: an administrator turns them on again when the data is checked."""

    def make(self, restorer, model, old, row):
        workflow = super().make(restorer, model, old, row)
        workflow.status = model.Status.INACTIVE
        return workflow


class FileAdapter(Adapter):
    """Stored files are copied from the archive into the company's storage, under the name the model gives them."""

    def make(self, restorer, model, old, row):
        file_fields = [f for f in model._meta.concrete_fields if f.get_internal_type() in ("FileField", "ImageField")]
        paths = {f.attname: row.pop(f.attname, "") or "" for f in file_fields}
        obj = super().make(restorer, model, old, row)
        for field in file_fields:
            setattr(obj, field.attname, self._copy(restorer, field, obj, paths[field.attname]))
        return obj

    @staticmethod
    def _copy(restorer, field, obj, path):
        """The stored name of the archive's file, or "" when the export found it missing (attachments/index.csv)."""
        try:
            member = restorer.archive.zip.open(path) if path else None
        except KeyError:
            member = None
        if member is None:
            return ""
        with member:
            name = field.generate_filename(obj, os.path.basename(path))
            stored = default_storage.save(name, File(member, name=name))
        restorer.files += 1
        return stored


class NotRestored(Adapter):
    """Rows that mean nothing in another company: a session's key was never exported, so everyone logs in again."""

    def make(self, restorer, model, old, row):
        return None


ADAPTERS = {
    "accounts.UserSession": NotRestored,
    "accounts.Role": RoleAdapter,
    "accounts.User": UserAdapter,
    "accounts.ApiToken": ApiTokenAdapter,
    "integrations.IntegrationConnection": IntegrationAdapter,
    "marketing.Campaign": CampaignAdapter,
    "marketing.Workflow": WorkflowAdapter,
}


def for_model(model):
    if graph.label(model) in ADAPTERS:
        return ADAPTERS[graph.label(model)]()
    if any(f.get_internal_type() in ("FileField", "ImageField") for f in model._meta.concrete_fields):
        return FileAdapter()
    return Adapter()
