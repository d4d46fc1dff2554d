from django.urls import path

from keel.datacontrol import crm_deletion_views as views

urlpatterns = [
    path("", views.crm_deletion, name="crm_deletion"),
    path("counts/", views.crm_deletion_counts, name="crm_deletion_counts"),
]
