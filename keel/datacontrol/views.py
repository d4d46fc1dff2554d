from django.shortcuts import render

from keel.accounts.access import company_page
from keel.datacontrol.export.actions import EXPORT_PERMISSION
from keel.datacontrol.restore.actions import holdings


@company_page(admin_only=True)
def data_management(request):
    context = {
        "can_export": request.user.has_perm_code(EXPORT_PERMISSION),
        # Restore is offered while the company holds no CRM data (docs/restore.md).
        "restore_offered": not holdings(request.company),
    }
    return render(request, "datacontrol/data_management.html", context)
