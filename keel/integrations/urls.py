from django.urls import path

from keel.integrations import views

urlpatterns = [
    path("", views.integrations, name="integrations"),
    path("<int:connection_id>/disconnect/", views.disconnect, name="disconnect_integration"),
]
