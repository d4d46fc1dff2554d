"""What "Delete all CRM records" would delete, how it reads to people, and what stands in its way."""

from keel.datacontrol import eraser, graph
from keel.jobs.models import DataJob
from keel.jobs.runner import active_job
from keel.marketing.models import Campaign


def crm_counts(company):
    """Rows of every CRM entity of the company: ``{"contacts": n, "contact_events": n, ...}``."""
    return eraser.count_rows(getattr(company, "pk", company), graph.crm_models())


def summarize(counts):
    """The three numbers people are shown: contacts, history events and every other contact record."""
    contacts = counts.get("contacts", 0)
    events = counts.get("contact_events", 0)
    return {"contacts": contacts, "history_events": events, "other_records": sum(counts.values()) - contacts - events}


def other_record_kinds():
    """What "other contact records" are, from the CRM subgraph: "notes, attachments, ..." """
    names = [graph.entity_name(m) for m in graph.crm_models()]
    return ", ".join(name.replace("_", " ") for name in names if name not in ("contacts", "contact_events"))


def describe(summary):
    """Reads as "3 contacts, 12 history events and 7 other contact records"."""
    return (
        f"{_count(summary['contacts'], 'contact')}, {_count(summary['history_events'], 'history event')} and "
        f"{_count(summary['other_records'], 'other contact record')}"
    )


def _count(n, noun):
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def latest_crm_deletion(company):
    return DataJob.objects.filter(company=company, kind=DataJob.Kind.CRM_DELETION).order_by("-id").first()


def active_crm_deletion(company):
    return active_job(company, [DataJob.Kind.CRM_DELETION])


def sending_campaign(company):
    """A campaign being sent blocks the start: its recipients are contacts."""
    return Campaign.objects.filter(company=company, status=Campaign.Status.SENDING).order_by("id").first()
