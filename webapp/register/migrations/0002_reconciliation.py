from django.db import migrations


class Migration(migrations.Migration):
    """The proxy that gives the reconciliation page (admin_reconcile.py) its admin entry and permission."""

    dependencies = [
        ("register", "0001_rcv_imports_and_entries"),
    ]

    operations = [
        migrations.CreateModel(
            name="Reconciliation",
            fields=[],
            options={
                "verbose_name": "reconciliation with the SII",
                "verbose_name_plural": "reconciliation with the SII",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("register.rcventry",),
        ),
    ]
