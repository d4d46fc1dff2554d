from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "keel.marketing"
    label = "marketing"
