from django.urls import include, path

from keel.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("keel.accounts.urls")),
    path("contacts/", include("keel.contacts.urls")),
    path("marketing/", include("keel.marketing.urls")),
    path("integrations/", include("keel.integrations.urls")),
    path("jobs/", include("keel.jobs.urls")),
    path("settings/data/", include("keel.datacontrol.urls")),
    path("deletion-status/", include("keel.datacontrol.company_deletion.status_urls")),
    path("audit/", include("keel.audit.urls")),
    # /healthz, /readyz and /metrics: no login, for load balancers and Prometheus (docs/operations.md).
    path("", include("keel.observability.urls")),
]
