"""What the pipeline knows: mailboxes, fetch runs, messages, stored blobs and attachments.

The database is the source of truth for what is done; Redis only carries work.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone


class Mailbox(models.Model):
    class Kind(models.TextChoices):
        FOLDER = "folder", "Local folder of .eml files"
        GRAPH = "graph", "Microsoft 365 (Graph)"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FOLDER)
    settings = models.JSONField(default=dict, blank=True, help_text="Source settings, e.g. {\"path\": \"/data/inbox\"}")
    active = models.BooleanField(default=True, help_text="Inactive mailboxes are skipped by the schedule.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "mailboxes"
        permissions = [
            ("view_all_mailboxes", "Can see every mailbox (otherwise only those granted by a mailbox access)"),
            ("resend_dead_letters", "Can see and send again the dead letters of the queues"),
        ]

    def __str__(self) -> str:
        return self.name


class FetchRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        BACKFILL = "backfill", "Backfill"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another run was in progress)"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.PENDING, db_index=True)
    messages_seen = models.PositiveIntegerField(default=0)
    messages_new = models.PositiveIntegerField(default=0)
    attachments_stored = models.PositiveIntegerField(default=0)
    attachments_deduplicated = models.PositiveIntegerField(default=0)
    attachments_failed = models.PositiveIntegerField(default=0)
    messages_failed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    listed_at = models.DateTimeField(null=True, blank=True, help_text="When listing the source finished.")
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    options = models.JSONField(default=dict, blank=True,
                               help_text="Listing options of a backfill, e.g. {\"since\": \"2024-01-01\", \"folders\": [\"Archive\"]}.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["mailbox", "status"])]

    def __str__(self) -> str:
        return f"{self.mailbox} run #{self.pk} ({self.status})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class MailMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        QUARANTINED = "quarantined", "Quarantined"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="messages")
    fetch_run = models.ForeignKey(FetchRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    source_id = models.CharField(max_length=512, help_text="The source's stable id for this message.")
    internet_message_id = models.CharField(max_length=998, blank=True, db_index=True)
    sender = models.CharField(max_length=998, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    attachment_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the source was told (moved or marked read); empty while it still shows the message as new.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["mailbox", "source_id"], name="unique_message_per_mailbox")]

    def __str__(self) -> str:
        return self.subject or self.source_id


class Blob(models.Model):
    """One stored object per distinct content, named by its hash."""

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=255, blank=True)
    storage_name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256


class Attachment(models.Model):
    class Status(models.TextChoices):
        STORED = "stored", "Stored"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    class PreviewStatus(models.TextChoices):
        NONE = "none", "No preview for this type"
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    message = models.ForeignKey(MailMessage, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveIntegerField(help_text="Order of the attachment within its message.")
    original_filename = models.CharField(max_length=1024, help_text="The name exactly as the sender gave it.")
    filename = models.CharField(max_length=255, help_text="Safe name used for downloads.")
    content_type = models.CharField(max_length=255, blank=True)
    blob = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.PROTECT, related_name="attachments")
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    error = models.TextField(blank=True)
    preview_status = models.CharField(max_length=20, choices=PreviewStatus.choices, default=PreviewStatus.NONE, db_index=True)
    preview_name = models.CharField(max_length=255, blank=True, help_text="Storage name of the PNG preview.")
    preview_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["message_id", "position"]
        constraints = [models.UniqueConstraint(fields=["message", "position"], name="unique_attachment_position")]

    def __str__(self) -> str:
        return self.filename


class MailboxAccess(models.Model):
    """Grants a user, or every member of a group, the sight of one mailbox and everything read from it.

    Superusers and holders of `inbox.view_all_mailboxes` see every mailbox; any other user sees
    only the mailboxes granted here, in every admin list and every download.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="accesses")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="mailbox_accesses")
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="mailbox_accesses")

    class Meta:
        verbose_name_plural = "mailbox accesses"
        constraints = [
            models.CheckConstraint(condition=models.Q(user__isnull=False, group__isnull=True)
                                   | models.Q(user__isnull=True, group__isnull=False),
                                   name="mailbox_access_user_xor_group"),
            models.UniqueConstraint(fields=["mailbox", "user"], name="unique_mailbox_access_user"),
            models.UniqueConstraint(fields=["mailbox", "group"], name="unique_mailbox_access_group"),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.group} -> {self.mailbox}"
