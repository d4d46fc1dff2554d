"""The tenancy invariant (docs/architecture.md, Tenancy): every tenant-owned row points at its company directly."""

from django.db import models
from django.shortcuts import get_object_or_404


class TenantModel(models.Model):
    """Base of every tenant-owned model.

    The direct, non-null ``company`` key is what lets export and deletion find every row of a company with one
    indexed range scan per table, without joining through parents. ``secret_fields`` names columns that must
    never leave the system (exports, API, logs); the exporter and a test both read it.
    """

    # No index of its own: the ``(company, id)`` index below leads with the company and serves every lookup by
    # company and the foreign key's checks; a second one would only be written to (docs/architecture.md, "Indexes").
    company = models.ForeignKey("accounts.Company", on_delete=models.CASCADE, related_name="+", db_index=False)

    secret_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True
        indexes = [models.Index(fields=["company", "id"], name="%(class)s_company")]


def tenant_get(request_company, model, **lookup):
    """The one way views and API fetch a single tenant object: another company's object is simply not found."""
    return get_object_or_404(model, company=request_company, **lookup)
