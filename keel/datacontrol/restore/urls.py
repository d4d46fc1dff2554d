from django.urls import path

from keel.datacontrol.restore import views

urlpatterns = [
    path("", views.restore, name="restore"),
    path("check/", views.check_archive, name="restore_check"),
    path("start/", views.start_restore, name="restore_start"),
]
