from django.urls import include, path

from keel.datacontrol import views

urlpatterns = [
    path("", views.data_management, name="data_management"),
    path("export/schedule/", include("keel.datacontrol.backups.urls")),
    path("export/", include("keel.datacontrol.export.urls")),
    path("crm-deletion/", include("keel.datacontrol.crm_deletion.urls")),
    path("delete/", include("keel.datacontrol.company_deletion.urls")),
    path("restore/", include("keel.datacontrol.restore.urls")),
]
