"""What deleting the company would remove, and what stands in the way (docs/company-deletion.md, "Blockers").

While anything blocks, nothing starts: pending operations (an import, an export, a CRM deletion, a deletion of
contacts), active campaigns and active workflows must be finished or stopped first.
"""

from dataclasses import dataclass, field

from django.urls import reverse

from keel.datacontrol import eraser, graph
from keel.datacontrol.models import ExportArchive
from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.marketing.models import Campaign, Workflow


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str
    link: str
    link_label: str
    job: object = field(default=None, compare=False)  # the pending operation, for pages to describe it

    def as_dict(self):
        return {"code": self.code, "message": self.message}


def pending_operation(job):
    """What a pending job is called, and the page where it can be followed or stopped."""
    if job.kind == DataJob.Kind.IMPORT:
        return "a contact import", reverse("contact_import_job", args=[job.pk])
    if job.kind == DataJob.Kind.EXPORT:
        return "a data export", reverse("export_data")
    if job.kind == DataJob.Kind.CONTACT_DELETION:
        return "a deletion of contacts", reverse("contacts")
    return "a deletion of all CRM records", reverse("contacts")


PENDING_KINDS = (DataJob.Kind.IMPORT, DataJob.Kind.EXPORT, DataJob.Kind.CRM_DELETION, DataJob.Kind.CONTACT_DELETION)


def deletion_blockers(company):
    """Everything that must be finished or stopped before the company can be deleted, oldest first."""
    blockers = []
    pending = DataJob.objects.select_related("requested_by").filter(
        company=company, kind__in=PENDING_KINDS, state__in=DataJob.ACTIVE_STATES
    )
    for job in pending.order_by("id"):
        label, link = pending_operation(job)
        blockers.append(
            Blocker(
                "pending_operation",
                f"Complete or stop active processes: {label} (job {job.pk}) is {job.state}.",
                link,
                "View the operation",
                job=job,
            )
        )
    for campaign in Campaign.objects.filter(company=company, status__in=Campaign.ACTIVE_STATUSES).order_by("id"):
        blockers.append(
            Blocker(
                "active_campaign",
                f"The campaign “{campaign.name}” is {campaign.status}. Stop it before deleting the company.",
                reverse("campaign_detail", args=[campaign.pk]),
                "Stop the campaign",
            )
        )
    for workflow in Workflow.objects.filter(company=company, status=Workflow.Status.ACTIVE).order_by("id"):
        blockers.append(
            Blocker(
                "active_workflow",
                f"The workflow “{workflow.name}” is active. Deactivate it before deleting the company.",
                reverse("workflow_detail", args=[workflow.pk]),
                "Stop the workflow",
            )
        )
    return blockers


def deletion_blocked_error(blockers):
    return Conflict(
        "The company cannot be deleted yet. Complete or stop active processes first.",
        code="deletion_blocked",
        blockers=[b.as_dict() for b in blockers],
    )


def deletion_counts(company):
    """Rows of the company in every tenant table, by entity: what the deletion would remove."""
    return eraser.count_rows(company.pk, graph.tenant_models())


def deletion_preflight(company):
    return {"blockers": deletion_blockers(company), "counts": deletion_counts(company)}


def latest_export(company):
    return (
        ExportArchive.objects.filter(company=company, status=ExportArchive.Status.READY)
        .order_by("-created_at", "-id")
        .first()
    )
