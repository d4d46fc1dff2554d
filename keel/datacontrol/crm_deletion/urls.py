from django.urls import path

from keel.datacontrol.crm_deletion import views

urlpatterns = [
    path("", views.crm_deletion, name="crm_deletion"),
    path("counts/", views.crm_deletion_counts, name="crm_deletion_counts"),
]
