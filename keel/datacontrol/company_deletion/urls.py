from django.urls import path

from keel.datacontrol.company_deletion import views

urlpatterns = [
    path("", views.delete_company, name="delete_company"),
    path("code/", views.send_code, name="delete_company_code"),
]
