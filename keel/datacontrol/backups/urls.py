from django.urls import path

from keel.datacontrol.backups import views

urlpatterns = [
    path("", views.backup_schedule, name="backup_schedule"),
    path("delete/", views.delete_backup_schedule, name="backup_schedule_delete"),
    path("run/", views.run_backup_now, name="backup_run_now"),
]
