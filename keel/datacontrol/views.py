from django.shortcuts import render

from keel.accounts.access import company_page


@company_page(admin_only=True)
def data_management(request):
    return render(request, "datacontrol/data_management.html")
