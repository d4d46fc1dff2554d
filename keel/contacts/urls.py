from django.urls import include, path

urlpatterns = [
    path("import/", include("keel.contacts.import_urls")),
]
