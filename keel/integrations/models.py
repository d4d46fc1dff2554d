from django.db import models
from django.utils import timezone

from keel.tenancy import TenantModel


class IntegrationConnection(TenantModel):
    """A connection to an outside provider. The access token is encrypted at rest and never shown again."""

    provider = models.CharField(max_length=60)
    encrypted_access_token = models.TextField()
    revoke_url = models.URLField(max_length=400, blank=True)
    connected_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    secret_fields = ("encrypted_access_token",)

    class Meta(TenantModel.Meta):
        pass

    def __str__(self):
        return self.provider
