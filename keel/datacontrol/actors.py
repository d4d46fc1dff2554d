"""Who acts on a company's data, for the ``do_*`` actions of export, CRM deletion and company deletion.

An actor is either a ``User`` of the company, whom each action checks against their role, or a string naming an
operator's tool (``COMMAND_LINE``). Operators run Keel's management commands on the server itself; they may do
what those commands offer, for any company, and the audit log names the tool instead of a user.
"""

from keel.accounts.access import require_company_admin

COMMAND_LINE = "command line"
# The worker starting a company's scheduled backup (docs/backups.md): held to the company's plan, as a user is.
SCHEDULER = "backup schedule"


def is_operator(actor):
    return isinstance(actor, str)


def requesting_user(actor):
    """The user to tell and to link to the job, or None for an operator."""
    return None if is_operator(actor) else actor


def require_admin_or_operator(actor, permission):
    """A Company Administrator whose role has ``permission``, or an operator."""
    if not is_operator(actor):
        require_company_admin(actor, permission)
