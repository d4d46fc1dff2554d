from django.shortcuts import render

from keel.accounts.access import company_page
from keel.datacontrol.export.actions import EXPORT_PERMISSION


@company_page(admin_only=True)
def data_management(request):
    can_export = request.user.has_perm_code(EXPORT_PERMISSION)
    return render(request, "datacontrol/data_management.html", {"can_export": can_export})
