from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "keel.contacts"
    label = "contacts"
