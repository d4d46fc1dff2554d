from django.apps import AppConfig


class DatacontrolConfig(AppConfig):
    name = "keel.datacontrol"
    label = "datacontrol"
