"""Migration operations that Django's own do not do well enough for tables of millions of rows."""

from django.db import migrations


class DropFieldIndex(migrations.AlterField):
    """``AlterField`` for a field that only loses its own index (``db_index=False``): drops that index and nothing
    else. Django's ``AlterField`` rebuilds the whole table on SQLite, minutes for a table of millions of rows.

    Used where another index leads with the same column and serves every lookup the single-column one did
    (docs/architecture.md, "Indexes")."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        column = model._meta.get_field(self.name).column
        names = schema_editor._constraint_names(model, [column], index=True, unique=False, primary_key=False)
        for name in names:
            schema_editor.execute(schema_editor._delete_index_sql(model, name))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
