"""Campaigns and Workflows pages. Views read the request, call an action, and render or redirect."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.accounts.permissions import MANAGE_MARKETING
from keel.contacts.list_views import MENU_SIZE, filter_from_data
from keel.contacts.lookups import SearchKey
from keel.contacts.models import Contact, ContactList, Tag
from keel.contacts.params import form_id, page_cursor
from keel.contacts.search import keyset_page
from keel.errors import Forbidden, InvalidInput, KeelError
from keel.marketing import actions
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment
from keel.tenancy import tenant_get

PAGE_SIZE = 50
MAX_PASTED_EMAILS = 1000


def _after(request):
    return page_cursor(request, "after")


def _before(request):
    return page_cursor(request, "before")


def contact_ids_for_emails(company, text):
    """Resolve pasted e-mail addresses (commas, spaces or lines) to the company's contacts; unknown ones are named."""
    emails = list(dict.fromkeys(part.strip().lower() for part in text.replace(",", " ").split() if part.strip()))
    if not emails:
        raise InvalidInput("Paste at least one e-mail address, or choose a list.", field="emails")
    if len(emails) > MAX_PASTED_EMAILS:
        raise InvalidInput(f"Paste at most {MAX_PASTED_EMAILS} addresses at once; use a list for more.", field="emails")
    found = dict(
        Contact.objects.filter(company=company)
        .alias(email_key=SearchKey("email"))
        .filter(email_key__in=emails)
        .values_list("email", "id")
    )
    found = {email.lower(): contact_id for email, contact_id in found.items()}
    unknown = [email for email in emails if email not in found]
    if unknown:
        raise InvalidInput(
            f"No contact has these e-mail addresses: {', '.join(unknown[:20])}. Nothing was added.", field="emails"
        )
    return [found[email] for email in emails]


def marketing_action(model, url_name):
    """A POST-only change on one campaign or workflow from its page: the object (404 for another company's), the
    action (which checks the permission: 403), errors shown as a message, and back to the object's page."""

    def decorator(view):
        @company_page()
        @require_POST
        @wraps(view)
        def wrapper(request, object_id):
            obj = tenant_get(request.company, model, pk=object_id)
            try:
                success = view(request, obj)
            except Forbidden as exc:  # the action's permission check: the 403 page, as for any page
                raise PermissionDenied(exc.message) from None
            except KeelError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, success)
            return redirect(url_name, obj.pk)

        return wrapper

    return decorator


# --- campaigns ----------------------------------------------------------------------------------------------


@company_page()
def campaign_list(request):
    page = keyset_page(Campaign.objects.filter(company=request.company), after=_after(request), before=_before(request))
    counts = actions.recipient_counts([c.pk for c in page.items])
    return render(
        request,
        "marketing/campaign_list.html",
        {
            "page": page,
            "rows": [(campaign, counts[campaign.pk]) for campaign in page.items],
            "can_manage": request.user.has_perm_code(MANAGE_MARKETING),
        },
    )


@company_page(permission=MANAGE_MARKETING)
def campaign_create(request):
    if request.method == "POST":
        try:
            campaign = actions.do_create_campaign(
                request.company,
                request.POST.get("name", ""),
                actor=request.user,
                subject=request.POST.get("subject", ""),
                body=request.POST.get("body", ""),
            )
        except KeelError as exc:
            messages.error(request, exc.message)
            return render(request, "marketing/campaign_form.html", {"values": request.POST}, status=exc.status)
        messages.success(request, f"Campaign “{campaign.name}” created. Add recipients, then start it.")
        return redirect("campaign_detail", campaign.pk)
    return render(request, "marketing/campaign_form.html", {"values": {}})


@company_page()
def campaign_detail(request, campaign_id):
    campaign = tenant_get(request.company, Campaign, pk=campaign_id)
    recipients = CampaignRecipient.objects.filter(company=request.company, campaign=campaign).select_related("contact")
    return render(
        request,
        "marketing/campaign_detail.html",
        {
            "campaign": campaign,
            "counts": actions.recipient_counts([campaign.pk])[campaign.pk],
            "page": keyset_page(recipients, after=_after(request), before=_before(request)),
            "lists": ContactList.objects.filter(company=request.company).order_by("name"),
            "tags": Tag.objects.filter(company=request.company).order_by("name")[:MENU_SIZE],
            "stages": Contact.Stage.choices,
            "can_manage": request.user.has_perm_code(MANAGE_MARKETING),
        },
    )


def _add_contacts_from_form(request, add_list, add_ids):
    """The detail pages' "add contacts" form: a whole contact list of the company, or e-mail addresses."""
    list_id = form_id(request, "list_id", "Choose a list from the menu.")
    if list_id is not None:
        return add_list(tenant_get(request.company, ContactList, pk=list_id))
    return add_ids(contact_ids_for_emails(request.company, request.POST.get("emails", "")))


@marketing_action(Campaign, "campaign_detail")
def campaign_add_recipients(request, campaign):
    added = _add_contacts_from_form(
        request,
        add_list=lambda contact_list: actions.do_add_list_recipients(campaign, contact_list, actor=request.user),
        add_ids=lambda ids: actions.do_add_recipients(campaign, ids, actor=request.user),
    )
    return f"{added} recipient{'s' if added != 1 else ''} added."


@marketing_action(Campaign, "campaign_detail")
def campaign_add_matching(request, campaign):
    """Everyone matching a search and filters of the contacts page (stage, tag, list)."""
    contact_filter = filter_from_data(request.company, request.POST)
    added = actions.do_add_filter_recipients(campaign, contact_filter, actor=request.user)
    return f"{added:,} recipient{'s' if added != 1 else ''} added."


@marketing_action(Campaign, "campaign_detail")
def campaign_start(request, campaign):
    actions.do_start_campaign(campaign, actor=request.user)
    return "Sending started. Recipients are marked sent in the background."


@marketing_action(Campaign, "campaign_detail")
def campaign_stop(request, campaign):
    actions.do_stop_campaign(campaign, actor=request.user)
    return "Campaign stopped. Recipients not reached yet stay pending; start it again to continue."


# --- workflows ----------------------------------------------------------------------------------------------


@company_page()
def workflow_list(request):
    page = keyset_page(Workflow.objects.filter(company=request.company), after=_after(request), before=_before(request))
    return render(
        request,
        "marketing/workflow_list.html",
        {"page": page, "can_manage": request.user.has_perm_code(MANAGE_MARKETING)},
    )


@company_page(permission=MANAGE_MARKETING)
def workflow_create(request):
    if request.method == "POST":
        try:
            workflow = actions.do_create_workflow(
                request.company,
                request.POST.get("name", ""),
                actor=request.user,
                trigger=request.POST.get("trigger", ""),
            )
        except KeelError as exc:
            messages.error(request, exc.message)
            return render(request, "marketing/workflow_form.html", {"values": request.POST}, status=exc.status)
        messages.success(request, f"Workflow “{workflow.name}” created. Enroll contacts, then activate it.")
        return redirect("workflow_detail", workflow.pk)
    return render(request, "marketing/workflow_form.html", {"values": {}})


@company_page()
def workflow_detail(request, workflow_id):
    workflow = tenant_get(request.company, Workflow, pk=workflow_id)
    enrollments = WorkflowEnrollment.objects.filter(company=request.company, workflow=workflow).select_related(
        "contact"
    )
    return render(
        request,
        "marketing/workflow_detail.html",
        {
            "workflow": workflow,
            "enrolled": enrollments.count(),
            "page": keyset_page(enrollments, after=_after(request), before=_before(request)),
            "lists": ContactList.objects.filter(company=request.company).order_by("name"),
            "can_manage": request.user.has_perm_code(MANAGE_MARKETING),
        },
    )


@marketing_action(Workflow, "workflow_detail")
def workflow_enroll(request, workflow):
    added = _add_contacts_from_form(
        request,
        add_list=lambda contact_list: actions.do_enroll_list(workflow, contact_list, actor=request.user),
        add_ids=lambda ids: actions.do_enroll_contacts(workflow, ids, actor=request.user),
    )
    return f"{added} contact{'s' if added != 1 else ''} enrolled."


@marketing_action(Workflow, "workflow_detail")
def workflow_activate(request, workflow):
    actions.do_activate_workflow(workflow, actor=request.user)
    return "Workflow activated."


@marketing_action(Workflow, "workflow_detail")
def workflow_deactivate(request, workflow):
    actions.do_deactivate_workflow(workflow, actor=request.user)
    return "Workflow deactivated."
