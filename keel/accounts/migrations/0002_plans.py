from django.db import migrations

PLANS = [
    # code, name, allows_export, exports_per_day
    ("free", "Free", False, 0),
    ("standard", "Standard", True, 5),
    ("enterprise", "Enterprise", True, 20),
]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("accounts", "Plan")
    for code, name, allows_export, per_day in PLANS:
        Plan.objects.update_or_create(
            code=code, defaults={"name": name, "allows_export": allows_export, "exports_per_day": per_day}
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
