from django.urls import path

from keel.contacts import import_views

urlpatterns = [
    path("", import_views.upload, name="contact_import"),
    path("upload/<str:token>/", import_views.mapping, name="contact_import_mapping"),
    path("<int:job_id>/", import_views.job_page, name="contact_import_job"),
    path("<int:job_id>/errors.csv", import_views.errors, name="contact_import_errors"),
]
