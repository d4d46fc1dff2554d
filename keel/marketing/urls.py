from django.urls import path
from django.views.generic import RedirectView

from keel.marketing import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="campaigns")),
    path("campaigns/", views.campaign_list, name="campaigns"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:campaign_id>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:object_id>/recipients/", views.campaign_add_recipients, name="campaign_add_recipients"),
    path("campaigns/<int:object_id>/recipients/matching/", views.campaign_add_matching, name="campaign_add_matching"),
    path("campaigns/<int:object_id>/start/", views.campaign_start, name="campaign_start"),
    path("campaigns/<int:object_id>/stop/", views.campaign_stop, name="campaign_stop"),
    path("workflows/", views.workflow_list, name="workflows"),
    path("workflows/new/", views.workflow_create, name="workflow_create"),
    path("workflows/<int:workflow_id>/", views.workflow_detail, name="workflow_detail"),
    path("workflows/<int:object_id>/enrollments/", views.workflow_enroll, name="workflow_enroll"),
    path("workflows/<int:object_id>/activate/", views.workflow_activate, name="workflow_activate"),
    path("workflows/<int:object_id>/deactivate/", views.workflow_deactivate, name="workflow_deactivate"),
]
