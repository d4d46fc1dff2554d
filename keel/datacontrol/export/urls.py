from django.urls import path

from keel.datacontrol.export import views

urlpatterns = [
    path("", views.export_data, name="export_data"),
    path("<int:export_id>/download/", views.download_export, name="export_download"),
    path("<int:export_id>/delete/", views.delete_export, name="export_delete"),
]
