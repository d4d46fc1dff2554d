"""CRM Contacts pages. Views stay thin: they read the request, call an action, and render or redirect."""

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.accounts.permissions import MANAGE_CONTACTS
from keel.contacts import actions, validation
from keel.contacts.forms import contact_fields_from_post, custom_fields_text, tag_names_from_text
from keel.contacts.list_views import MENU_SIZE, filter_from_query, sort_links
from keel.contacts.listing import contact_total, contacts_page
from keel.contacts.models import Attachment, Contact, ContactList, ContactTag, ListMembership, Note, Tag
from keel.contacts.params import form_id, page_cursor
from keel.contacts.search import timeline_page
from keel.contacts.uploads import limit_page_uploads
from keel.contacts.validation import TEXT_FIELDS
from keel.errors import Forbidden, InvalidInput, KeelError
from keel.tenancy import tenant_get

PAGE_SIZE = 50
TIMELINE_SIZE = 25
NOTES_SHOWN = 50
CHOOSE_A_LIST = "Choose a list, or type the name of a new list."


@company_page()
def contact_list(request):
    try:
        contact_filter, sort = filter_from_query(request)
        page = contacts_page(
            request.company,
            contact_filter,
            sort,
            after=page_cursor(request, "after"),
            before=page_cursor(request, "before"),
            limit=PAGE_SIZE,
        )
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("contacts")
    can_manage = request.user.has_perm_code(MANAGE_CONTACTS)
    return render(
        request,
        "contacts/list.html",
        {
            "page": page,
            "q": contact_filter.q.strip(),
            "filter": contact_filter,
            "filter_query": urlencode(contact_filter.as_params()),
            "sort": sort,
            "sort_links": sort_links(contact_filter, sort),
            "total": contact_total(request.company, contact_filter),
            "stages": Contact.Stage.choices,
            "tags": Tag.objects.filter(company=request.company).order_by("name")[:MENU_SIZE],
            "lists": ContactList.objects.filter(company=request.company).order_by("name")[:MENU_SIZE],
            "can_manage": can_manage,
        },
    )


def _form_context(contact, values=None):
    values = values or {
        **{name: getattr(contact, name) for name in TEXT_FIELDS},
        "lifecycle_stage": contact.lifecycle_stage,
        "custom_fields": custom_fields_text(contact.custom_fields),
    }
    return {"contact": contact, "values": values, "stages": Contact.Stage.choices}


@company_page(permission=MANAGE_CONTACTS)
def contact_create(request):
    if request.method == "POST":
        try:
            fields = contact_fields_from_post(request.POST)
            tags = tag_names_from_text(request.POST.get("tags", ""))
            contact = actions.do_create_contact(request.company, fields, actor=request.user, tags=tags)
        except KeelError as exc:
            messages.error(request, exc.message)
            context = _form_context(None, values=request.POST)
            return render(request, "contacts/form.html", context, status=exc.status)
        messages.success(request, f"Contact {contact} created.")
        return redirect("contact_detail", contact.pk)
    context = _form_context(Contact(lifecycle_stage=Contact.Stage.SUBSCRIBER))
    context["contact"] = None
    return render(request, "contacts/form.html", context)


@company_page(permission=MANAGE_CONTACTS)
def contact_edit(request, contact_id):
    contact = tenant_get(request.company, Contact, pk=contact_id)
    if request.method == "POST":
        try:
            fields = contact_fields_from_post(request.POST, contact.custom_fields)
            actions.do_update_contact(contact, fields, actor=request.user)
        except KeelError as exc:
            messages.error(request, exc.message)
            stored = tenant_get(request.company, Contact, pk=contact_id)
            return render(request, "contacts/form.html", _form_context(stored, request.POST), status=exc.status)
        messages.success(request, "Contact saved.")
        return redirect("contact_detail", contact.pk)
    return render(request, "contacts/form.html", _form_context(contact))


@company_page(permission=MANAGE_CONTACTS)
def contact_delete(request, contact_id):
    contact = tenant_get(request.company, Contact, pk=contact_id)
    if request.method == "POST":
        try:
            actions.do_delete_contact(contact, actor=request.user)
        except KeelError as exc:
            messages.error(request, exc.message)
            return redirect("contact_detail", contact.pk)
        messages.success(request, f"Contact {contact} deleted, with its history, notes and attachments.")
        return redirect("contacts")
    return render(request, "contacts/confirm_delete.html", {"contact": contact})


@company_page()
def contact_detail(request, contact_id):
    contact = tenant_get(request.company, Contact, pk=contact_id)
    try:
        timeline = timeline_page(contact, before=request.GET.get("before") or None, limit=TIMELINE_SIZE)
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("contact_detail", contact.pk)
    member_of = ListMembership.objects.filter(contact=contact).select_related("contact_list").order_by("id")
    context = {
        "contact": contact,
        "timeline": timeline,
        "before": request.GET.get("before", ""),
        "tags": Tag.objects.filter(contact_links__contact=contact).order_by("name"),
        "memberships": member_of,
        "other_lists": ContactList.objects.filter(company=request.company)
        .exclude(memberships__contact=contact)
        .order_by("name"),
        "notes": Note.objects.filter(contact=contact)
        .select_related("author")
        .order_by("-created_at", "-id")[:NOTES_SHOWN],
        "notes_shown": NOTES_SHOWN,
        "attachments": Attachment.objects.filter(contact=contact).order_by("-created_at", "-id"),
        "can_manage": request.user.has_perm_code(MANAGE_CONTACTS),
    }
    return render(request, "contacts/detail.html", context)


def contact_action(view):
    """A POST-only change on one contact from its page: the contact (404 for another company's), the action (which
    checks the permission: 403), errors shown as a message, and back to the contact's page."""

    @company_page()
    @require_POST
    @wraps(view)
    def wrapper(request, contact_id, *args, **kwargs):
        contact = tenant_get(request.company, Contact, pk=contact_id)
        try:
            success = view(request, contact, *args, **kwargs)
        except Forbidden as exc:  # the action's permission check: the 403 page, as for any page
            raise PermissionDenied(exc.message) from None
        except KeelError as exc:
            messages.error(request, exc.message)
        else:
            if success:
                messages.success(request, success)
        return redirect("contact_detail", contact.pk)

    return wrapper


@contact_action
def note_add(request, contact):
    actions.do_add_note(contact, request.POST.get("body", ""), actor=request.user)
    return "Note added."


@contact_action
def tag_add(request, contact):
    tag = actions.do_add_tag(contact, request.POST.get("tag", ""), actor=request.user)
    return f"Tag “{tag.name}” added."


@contact_action
def tag_remove(request, contact, tag_id):
    link = tenant_get(request.company, ContactTag.objects.select_related("tag"), contact=contact, tag_id=tag_id)
    actions.do_remove_tag(contact, link.tag, actor=request.user)
    return f"Tag “{link.tag.name}” removed."


@contact_action
def list_add(request, contact):
    new_name = request.POST.get("list_name", "").strip()
    list_id = form_id(request, "list_id", CHOOSE_A_LIST)
    if new_name:
        contact_list = actions.do_create_list(request.company, new_name, actor=request.user)
    elif list_id is not None:
        contact_list = tenant_get(request.company, ContactList, pk=list_id)
    else:
        raise InvalidInput(CHOOSE_A_LIST, field="list_id")
    actions.do_add_to_list(contact, contact_list, actor=request.user)
    return f"Added to the list {contact_list.name}."


@contact_action
def list_remove(request, contact, list_id):
    contact_list = tenant_get(request.company, ContactList, pk=list_id)
    actions.do_remove_from_list(contact, contact_list, actor=request.user)
    return f"Removed from the list {contact_list.name}."


def _attachment_refused(request, error, contact_id):
    messages.error(request, error.message)
    return redirect("contact_detail", contact_id)


@limit_page_uploads(lambda: validation.MAX_ATTACHMENT_BYTES, _attachment_refused)
@contact_action
def attachment_upload(request, contact):
    attachment = actions.do_add_attachment(contact, request.FILES.get("file"), actor=request.user)
    return f"{attachment.filename} attached."


@contact_action
def attachment_delete(request, contact, attachment_id):
    attachment = tenant_get(request.company, Attachment, pk=attachment_id, contact=contact)
    actions.do_delete_attachment(attachment, actor=request.user)
    return f"{attachment.filename} deleted."


@company_page()
def attachment_download(request, contact_id, attachment_id):
    attachment = tenant_get(request.company, Attachment, pk=attachment_id, contact_id=contact_id)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    return FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )
