from django.shortcuts import render

from keel.accounts.access import company_page
from keel.datacontrol.restore.actions import holdings


@company_page(admin_only=True)
def data_management(request):
    # Restore is offered while the company holds no CRM data (docs/restore.md).
    return render(request, "datacontrol/data_management.html", {"restore_offered": not holdings(request.company)})
