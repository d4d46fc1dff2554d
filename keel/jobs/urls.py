from django.urls import path

from keel.jobs import views

urlpatterns = [
    path("<int:job_id>/progress/", views.progress, name="job_progress"),
    path("<int:job_id>/cancel/", views.cancel, name="job_cancel"),
]
