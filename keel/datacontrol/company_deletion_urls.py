from django.urls import path

from keel.datacontrol import company_deletion_views as views

urlpatterns = [
    path("", views.delete_company, name="delete_company"),
    path("code/", views.send_code, name="delete_company_code"),
]
