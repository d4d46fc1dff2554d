"""Pages of contact lists and of bulk actions, and the contacts list's filter and sort links (docs/crm.md)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.accounts.permissions import MANAGE_CONTACTS
from keel.contacts import actions, bulk_actions
from keel.contacts.bulk_actions import Selection
from keel.contacts.listing import SORT_LABELS, ContactFilter, Total, check_sort, contact_total, parse_filter
from keel.contacts.models import ContactList, Tag
from keel.contacts.params import parse_id
from keel.errors import Forbidden, InvalidInput, KeelError
from keel.jobs.templatetags.jobs import page_message
from keel.tenancy import tenant_get

MENU_SIZE = 200  # tags and lists offered in a page's menus
BULK_ACTIONS = {
    "add_tag": "Add a tag",
    "remove_tag": "Remove a tag",
    "add_to_list": "Add to a list",
    "delete": "Delete",
}


def _id_param(data, name):
    value = data.get(name, "")
    if not value:
        return None
    number = parse_id(value)
    if number is None:
        raise BadRequest(f"The “{name}” of this link is not valid.")
    return number


def filter_from_data(company, data):
    """The search and filters of a query string or form (q, stage, tag_id, list_id)."""
    return parse_filter(
        company, data.get("q", ""), data.get("stage", ""), _id_param(data, "tag_id"), _id_param(data, "list_id")
    )


def filter_from_query(request):
    return filter_from_data(request.company, request.GET), check_sort(request.GET.get("sort", ""))


def sort_links(contact_filter, sort):
    """{column: (query string, arrow)}: a column's link sorts by it, or reverses the order when it already does."""
    links = {}
    for name, label in SORT_LABELS.items():
        target = f"-{name}" if sort == name else name
        arrow = " ↑" if sort == name else " ↓" if sort == f"-{name}" else ""
        links[name] = (urlencode({**contact_filter.as_params(), "sort": target}), label + arrow)
    return links


# --- lists ------------------------------------------------------------------------------------------------------


@company_page()
def list_index(request):
    lists = ContactList.objects.filter(company=request.company).order_by("name")[:MENU_SIZE]
    rows = [(li, contact_total(request.company, ContactFilter(contact_list=li))) for li in lists]
    context = {"rows": rows, "can_manage": request.user.has_perm_code(MANAGE_CONTACTS)}
    return render(request, "contacts/lists.html", context)


def list_page_action(view):
    """A POST on the lists page: the action checks the permission (403), errors become a message."""

    @company_page()
    @require_POST
    def wrapper(request, *args, **kwargs):
        try:
            success = view(request, *args, **kwargs)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except KeelError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, success)
        return redirect("contact_lists")

    return wrapper


@list_page_action
def list_create(request):
    contact_list = actions.do_create_list(request.company, request.POST.get("list_name", ""), actor=request.user)
    return f"List {contact_list.name} created."


@list_page_action
def list_rename(request, list_id):
    contact_list = tenant_get(request.company, ContactList, pk=list_id)
    old_name = contact_list.name
    actions.do_rename_list(contact_list, request.POST.get("list_name", ""), actor=request.user)
    return f"List {old_name} renamed to {contact_list.name}."


@list_page_action
def list_delete(request, list_id):
    contact_list = tenant_get(request.company, ContactList, pk=list_id)
    actions.do_delete_list(contact_list, actor=request.user)
    return f"List {contact_list.name} deleted. Its contacts were kept."


# --- bulk actions -------------------------------------------------------------------------------------------------


def _selection_from_post(request):
    if request.POST.get("scope") == "matching":
        return Selection(contact_filter=filter_from_data(request.company, request.POST))
    ids = [parse_id(value) for value in request.POST.getlist("contact_ids")]
    if not ids or None in ids:
        raise InvalidInput("Select contacts with their check boxes, or choose “all matching”.", field="contact_ids")
    return Selection(contact_ids=ids)


def _run_bulk(request, action, selection):
    company, actor = request.company, request.user
    if action == "add_tag":
        tag, added = bulk_actions.do_bulk_add_tag(company, selection, request.POST.get("tag", ""), actor=actor)
        return f"Tag “{tag.name}” added to {added:,} contact{'s' if added != 1 else ''}."
    if action == "remove_tag":
        name = " ".join(request.POST.get("tag", "").split())
        tag = Tag.objects.filter(company=company, name__iexact=name).first()
        removed = bulk_actions.do_bulk_remove_tag(company, selection, tag, actor=actor)
        return f"Tag “{name}” removed from {removed:,} contact{'s' if removed != 1 else ''}."
    if action == "add_to_list":
        list_id = _id_param(request.POST, "target_list_id")
        new_name = request.POST.get("list_name", "").strip()
        if new_name:
            contact_list = actions.do_create_list(company, new_name, actor=actor)
        elif list_id is not None:
            contact_list = tenant_get(company, ContactList, pk=list_id)
        else:
            raise InvalidInput("Choose a list, or type the name of a new list.", field="target_list_id")
        added = bulk_actions.do_bulk_add_to_list(company, selection, contact_list, actor=actor)
        return f"{added:,} contact{'s' if added != 1 else ''} added to the list {contact_list.name}."
    deletion = bulk_actions.do_bulk_delete_contacts(company, selection, actor=actor)
    if deletion.job is not None:
        return (
            "The contacts are being deleted in the background: the progress bar on this page shows how far it is, "
            "and you will be told when it has finished."
        )
    deleted = deletion.deleted
    return f"{deleted:,} contact{'s' if deleted != 1 else ''} deleted, with their history, notes and attachments."


@company_page()
@require_POST
def bulk_action(request):
    """The contacts page's bulk form. Deleting first shows a confirmation page that posts the same form again."""
    back = "/contacts/?" + urlencode(filter_from_data(request.company, request.POST).as_params())
    action = request.POST.get("action", "")
    try:
        if action not in BULK_ACTIONS:
            raise InvalidInput("Choose what to do with the selected contacts.", field="action")
        selection = _selection_from_post(request)
        if action == "delete" and request.POST.get("confirmed") != "yes":
            return _confirm_delete(request, selection, back)
        messages.success(request, _run_bulk(request, action, selection))
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except KeelError as exc:
        messages.error(request, page_message(exc, request.company))  # names the operation in the way, if any
    return redirect(back)


def _confirm_delete(request, selection, back):
    if not request.user.has_perm_code(MANAGE_CONTACTS):
        raise PermissionDenied("You need the permission “Manage contacts”.")
    if selection.contact_filter is not None:
        count = contact_total(request.company, selection.contact_filter)
    else:
        count = Total(len(set(selection.contact_ids)), "eq")
    fields = [(name, value) for name in request.POST for value in request.POST.getlist(name)]
    fields = [(name, value) for name, value in fields if name != "csrfmiddlewaretoken"]
    limit = bulk_actions.inline_limit()
    in_background = count.relation != "eq" or count.value > limit
    context = {"count": count, "fields": fields, "back": back, "limit": limit, "in_background": in_background}
    return render(request, "contacts/confirm_bulk_delete.html", context)
