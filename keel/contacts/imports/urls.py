from django.urls import path

from keel.contacts.imports import views

urlpatterns = [
    path("", views.upload, name="contact_import"),
    path("upload/<str:token>/", views.mapping, name="contact_import_mapping"),
    path("<int:job_id>/", views.job_page, name="contact_import_job"),
    path("<int:job_id>/errors.csv", views.errors, name="contact_import_errors"),
]
