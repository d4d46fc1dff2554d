from django.apps import apps

from keel.datacontrol import graph


def test_every_installed_model_is_tenant_owned_or_declared_global():
    assert graph.unclassified_models() == []


def test_declared_global_models_exist_and_are_not_tenant_owned():
    for model_label in graph.GLOBAL_MODELS:
        model = apps.get_model(model_label)
        assert not graph.is_tenant_model(model), model_label


def test_tenant_models_come_parents_first():
    order = graph.tenant_models()
    position = {m: i for i, m in enumerate(order)}
    for model in order:
        for parent in graph.tenant_parents(model):
            assert position[parent] < position[model], (graph.label(parent), graph.label(model))


def test_deletion_order_is_children_first():
    order = graph.deletion_order()
    position = {m: i for i, m in enumerate(order)}
    for model in order:
        for parent in graph.tenant_parents(model):
            assert position[model] < position[parent]


def test_crm_subgraph_is_contact_and_what_reaches_it():
    names = {graph.label(m) for m in graph.crm_models()}
    assert names == {
        "contacts.Contact",
        "contacts.ContactEvent",
        "contacts.Note",
        "contacts.ContactTag",
        "contacts.ListMembership",
        "contacts.Attachment",
        "marketing.CampaignRecipient",
        "marketing.WorkflowEnrollment",
    }


def test_every_tenant_model_has_a_company_index():
    for model in graph.tenant_models():
        indexed = [tuple(index.fields) for index in model._meta.indexes]
        assert ("company", "id") in indexed, graph.label(model)


def test_secret_fields_are_marked():
    assert graph.secret_columns(apps.get_model("accounts", "User")) == {"password"}
    assert graph.secret_columns(apps.get_model("accounts", "ApiToken")) == {"token_hash"}
    assert graph.secret_columns(apps.get_model("integrations", "IntegrationConnection")) == {
        "encrypted_access_token",
        "revoke_url",
    }
