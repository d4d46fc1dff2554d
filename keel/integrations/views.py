from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from keel.accounts.access import company_page
from keel.errors import KeelError
from keel.integrations.actions import do_connect_integration, do_disconnect_integration
from keel.integrations.models import IntegrationConnection
from keel.tenancy import tenant_get


@sensitive_post_parameters("access_token")
@company_page(permission="manage_integrations")
def integrations(request):
    form = {"provider": "", "revoke_url": ""}
    if request.method == "POST":
        form = {"provider": request.POST.get("provider", ""), "revoke_url": request.POST.get("revoke_url", "")}
        try:
            connection = do_connect_integration(
                request.company,
                request.user,
                form["provider"],
                request.POST.get("access_token", ""),
                form["revoke_url"],
            )
        except KeelError as exc:
            # The access token is not put back into the form: it is never sent to a browser.
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{connection.provider} connected. Its access token is stored encrypted.")
            return redirect("/integrations/")
    connections = (
        IntegrationConnection.objects.filter(company=request.company).select_related("connected_by").order_by("id")
    )
    return render(request, "integrations/integrations.html", {"connections": connections, "form": form})


@company_page(permission="manage_integrations")
@require_POST
def disconnect(request, connection_id):
    connection = tenant_get(request.company, IntegrationConnection, pk=connection_id)
    revoked = do_disconnect_integration(connection, request.user)
    note = (
        " The provider could not confirm the revocation; revoke the token in its own settings too."
        if revoked is False
        else ""
    )
    messages.success(request, f"{connection.provider} disconnected.{note}")
    return redirect("/integrations/")
