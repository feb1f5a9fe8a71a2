import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from pipeline import config
from webapp.inbox.models import Mailbox

DEMO_MAILBOX = "demo"
DEMO_EMAILS = 6


class Command(BaseCommand):
    help = "For `make run`: a local admin user and a demo mailbox seeded with generated supplier e-mails."

    def handle(self, *args, **options):
        self._admin_user()
        self._demo_mailbox()

    def _admin_user(self):
        """ADMIN_USERNAME / ADMIN_PASSWORD from env, else `admin` with a password made and shown once."""
        User = get_user_model()
        username = config.get("ADMIN_USERNAME")
        password = config.get("ADMIN_PASSWORD")
        user = User.objects.filter(username=username).first()
        if user is not None:
            if password:
                user.set_password(password)
                user.save(update_fields=["password"])
            self.stdout.write(
                f"Admin user: {username} (password as set before; change it with "
                f"`.venv/bin/python manage.py changepassword {username}`)"
            )
            return
        password = password or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Admin user created - username: {username}  password: {password}"))
        self.stdout.write(f"(shown once; change it with `.venv/bin/python manage.py changepassword {username}`)")

    def _demo_mailbox(self):
        if Mailbox.objects.filter(name=DEMO_MAILBOX).exists():
            return
        from pipeline.samples import write_demo_mailbox

        folder = Path(settings.STATE_DIR) / "demo-mailbox"
        folder.mkdir(parents=True, exist_ok=True)
        written = write_demo_mailbox(folder, count=DEMO_EMAILS)
        Mailbox.objects.create(name=DEMO_MAILBOX, kind=Mailbox.Kind.FOLDER, settings={"path": str(folder)})
        self.stdout.write(
            f"Demo mailbox `{DEMO_MAILBOX}` over {folder} with {len(written)} supplier e-mails; "
            "drop more .eml files there and they are read at the next tick."
        )
