from django.db import models
from django.db.models import F
from django.utils import timezone

from keel.contacts.lookups import SearchKey
from keel.storage import company_folder
from keel.tenancy import TenantModel


def attachment_path(instance, filename):
    # In the company's own folder, so that deleting a company can list and verify everything it stored.
    return company_folder(instance.company_id, "attachments", f"{timezone.now():%Y/%m}", filename)


class Contact(TenantModel):
    class Stage(models.TextChoices):
        SUBSCRIBER = "subscriber"
        LEAD = "lead"
        QUALIFIED = "qualified"
        OPPORTUNITY = "opportunity"
        CUSTOMER = "customer"
        EVANGELIST = "evangelist"
        OTHER = "other"

    email = models.EmailField(max_length=254, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    lifecycle_stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.SUBSCRIBER)
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        indexes = TenantModel.Meta.indexes + [
            # Prefix search by e-mail, first or last name (keel/contacts/search.py) is a range scan on these; the
            # e-mail and name ones, ending in the id, are also the keysets of the sorts by e-mail and by name
            # (keel/contacts/listing.py), so those sorts cost no index of their own.
            models.Index(F("company"), SearchKey("email"), F("id"), name="contact_search_email"),
            models.Index(
                F("company"), SearchKey("first_name"), SearchKey("last_name"), F("id"), name="contact_search_name"
            ),
            models.Index(F("company"), SearchKey("last_name"), name="contact_search_last_name"),
            # The other sorts of the contacts list (docs/crm.md, "Sorting, filters and totals").
            models.Index(F("company"), SearchKey("company_name"), F("id"), name="contact_sort_company"),
            models.Index(fields=["company", "lifecycle_stage", "id"], name="contact_sort_stage"),
            models.Index(fields=["company", "created_at", "id"], name="contact_sort_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "email"],
                condition=~models.Q(email=""),
                name="contact_email_unique_per_company",
            )
        ]

    def __str__(self):
        return self.full_name or self.email

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}".strip()


class ContactEvent(TenantModel):
    """One entry of a contact's history timeline."""

    # Looked up through contactevent_timeline, which leads with the contact (as do the other keys below that say
    # db_index=False: an index that leads another is never needed, docs/architecture.md, "Indexes").
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        indexes = TenantModel.Meta.indexes + [
            models.Index(fields=["contact", "occurred_at"], name="contactevent_timeline")
        ]


class Note(TenantModel):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        pass


class Tag(TenantModel):
    name = models.CharField(max_length=60)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="tag_name_unique_per_company")]

    def __str__(self):
        return self.name


class ContactTag(TenantModel):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tag_links", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="contact_links", db_index=False)

    class Meta(TenantModel.Meta):
        # The tag filter of the contacts list walks a tag's contacts in id order.
        indexes = TenantModel.Meta.indexes + [models.Index(fields=["tag", "contact"], name="contacttag_by_tag")]
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="contact_tag_unique")]


class ContactList(TenantModel):
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="list_name_unique_per_company")]

    def __str__(self):
        return self.name


class ListMembership(TenantModel):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="list_memberships")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["contact_list", "contact"], name="list_membership_unique")]


class Attachment(TenantModel):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=400)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    uploaded_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantModel.Meta):
        pass
