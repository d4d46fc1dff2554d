from django.urls import include, path

from keel.contacts import list_views, views

urlpatterns = [
    path("import/", include("keel.contacts.imports.urls")),
    path("", views.contact_list, name="contacts"),
    path("new/", views.contact_create, name="contact_create"),
    path("lists/", list_views.list_index, name="contact_lists"),
    path("lists/new/", list_views.list_create, name="contact_list_create"),
    path("lists/<int:list_id>/rename/", list_views.list_rename, name="contact_list_rename"),
    path("lists/<int:list_id>/delete/", list_views.list_delete, name="contact_list_delete"),
    path("bulk/", list_views.bulk_action, name="contacts_bulk"),
    path("<int:contact_id>/", views.contact_detail, name="contact_detail"),
    path("<int:contact_id>/edit/", views.contact_edit, name="contact_edit"),
    path("<int:contact_id>/delete/", views.contact_delete, name="contact_delete"),
    path("<int:contact_id>/notes/", views.note_add, name="contact_note_add"),
    path("<int:contact_id>/tags/", views.tag_add, name="contact_tag_add"),
    path("<int:contact_id>/tags/<int:tag_id>/remove/", views.tag_remove, name="contact_tag_remove"),
    path("<int:contact_id>/lists/", views.list_add, name="contact_list_add"),
    path("<int:contact_id>/lists/<int:list_id>/remove/", views.list_remove, name="contact_list_remove"),
    path("<int:contact_id>/attachments/", views.attachment_upload, name="contact_attachment_upload"),
    path(
        "<int:contact_id>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="contact_attachment_download",
    ),
    path(
        "<int:contact_id>/attachments/<int:attachment_id>/delete/",
        views.attachment_delete,
        name="contact_attachment_delete",
    ),
]
