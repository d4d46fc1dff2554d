"""Cells a spreadsheet would run: what Keel writes into CSV files people open in Excel, LibreOffice or Google
Sheets is defused (docs/security.md, Formulas in CSV files).

A cell starting with = + - @, a tab or a carriage return is read as a formula by spreadsheets; Keel puts a ``'``
before it, which spreadsheets show as text and never run. A plain number or phone number ("-5", "+1 555 0100")
runs nothing and stays as it is, readable. Export archives must also round-trip exactly, so there a cell that
itself starts with ``'`` gets one more: restore (and import of a Keel contacts.csv) removes exactly one.
"""

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
# Only digits and the punctuation of numbers and phone numbers after the sign: nothing a spreadsheet could run.
PLAIN_NUMBER = re.compile(r"[+-][0-9][0-9 .,()/-]*")
# What an archive's manifest says of its text cells (manifest.json, "csv_formula_escape").
ARCHIVE_RULE = {
    "prefix": ESCAPE,
    "applies_to": "text columns (type string)",
    "rule": "a cell starting with = + - @, a tab or a carriage return, unless it is a plain number or phone number, "
    "and a cell starting with ' get one more ' in front; remove exactly one leading ' to read the value",
}


def defuse(cell):
    """For reports people open and that are never read back: formula-looking cells get a leading '."""
    if cell[:1] in FORMULA_STARTS and not PLAIN_NUMBER.fullmatch(cell):
        return ESCAPE + cell
    return cell


def escape_reversibly(cell):
    """For archives that are read back: ``defuse`` plus a ' before a cell that starts with one already."""
    if cell[:1] == ESCAPE:
        return ESCAPE + cell
    return defuse(cell)


def unescape(cell):
    return cell[1:] if cell[:1] == ESCAPE else cell
