"""Names stored before safe_filename dropped format characters (bidi overrides, zero-widths) lose them now:
the admin shows `filename` as stored. original_filename keeps the sender's text untouched."""

from django.db import migrations

from pipeline.content import safe_filename

#: Rows read per query.
BATCH = 2000


def filenames_clean(apps, schema_editor):
    Attachment = apps.get_model("inbox", "Attachment")
    last_pk = 0
    while rows := list(
        Attachment.objects.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "position", "filename")[:BATCH]
    ):
        for pk, position, filename in rows:
            clean = safe_filename(filename, fallback=f"attachment-{position + 1}")
            if clean != filename:
                Attachment.objects.filter(pk=pk).update(filename=clean)
        last_pk = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0007_attachment_container"),
    ]

    operations = [
        migrations.RunPython(filenames_clean, migrations.RunPython.noop),
    ]
