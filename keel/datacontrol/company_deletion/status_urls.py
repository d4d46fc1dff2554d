"""The public status page of a company deletion: outside /settings/, reachable without login."""

from django.urls import path

from keel.datacontrol.company_deletion import views

urlpatterns = [
    path("<str:token>/", views.deletion_status, name="deletion_status"),
]
