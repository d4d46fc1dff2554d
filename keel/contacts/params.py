"""Reading ids from a page's query string or form: ASCII digits within a database id's range, or a clear error.

``str.isdigit()`` is true for "²" and other Unicode digits that ``int()`` cannot read, and an id above 2^63 - 1
cannot be sent to the database: both used to end in a server error.
"""

from django.core.exceptions import BadRequest

from keel.errors import InvalidInput

MAX_ID = 2**63 - 1  # the largest id a database row can have (a signed 64-bit integer)


def parse_id(value):
    """The id ``value`` spells, or None when it is not one (empty, not ASCII digits, out of range)."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def page_cursor(request, name):
    """A keyset page's ``?after=`` / ``?before=``: None when absent; a value that is not an id answers 400."""
    value = request.GET.get(name, "")
    if not value:
        return None
    number = parse_id(value)
    if number is None:
        raise BadRequest(f"The “{name}” of this page link is not valid; use the page's own links.")
    return number


def form_id(request, name, message):
    """An id chosen in a form (a ``<select>``): None when none was chosen; anything else that is not an id is
    refused with ``message``, naming the field."""
    value = request.POST.get(name, "")
    if not value:
        return None
    number = parse_id(value)
    if number is None:
        raise InvalidInput(message, field=name)
    return number
