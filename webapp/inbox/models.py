"""What the pipeline knows: mailboxes, fetch runs, messages, stored blobs and attachments.

The database is the source of truth for what is done; Redis only carries work.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from webapp.formats.clock import local_time


class DeliveryState(models.TextChoices):
    """Where the latest delivery of a message's save or an attachment's preview stands (services/deliveries.py)."""

    IDLE = "idle", _("No delivery under way")
    RUNNING = "running", _("Being delivered")
    SUSPECT = "suspect", _("Suspect: a delivery did not finish")
    TURN = "turn", _("Suspect: sent again on its own")
    ALONE = "alone", _("Suspect: being delivered on its own")


def _delivery_state_field() -> models.CharField:
    return models.CharField(
        _("delivery state"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.IDLE, db_index=True
    )


def _delivery_at_field() -> models.DateTimeField:
    return models.DateTimeField(_("delivery state since"), null=True, blank=True)


class Mailbox(models.Model):
    class Kind(models.TextChoices):
        FOLDER = "folder", _("Local folder of .eml files")
        GRAPH = "graph", _("Microsoft 365 (Graph)")

    name = models.SlugField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.FOLDER)
    settings = models.JSONField(
        _("settings"), default=dict, blank=True, help_text=_('Source settings, e.g. {"path": "/data/inbox"}')
    )
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive mailboxes are skipped by the schedule.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")
        permissions = [
            ("view_all_mailboxes", "Can see every mailbox (otherwise only those granted by a mailbox access)"),
            ("resend_dead_letters", "Can see and send again the dead letters of the queues"),
            ("change_mailbox_source", "Can change where a mailbox reads from (its kind and source settings)"),
        ]

    def __str__(self) -> str:
        return self.name


class FetchRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Manual")
        BACKFILL = "backfill", _("Older mail")

    class Status(models.TextChoices):
        PENDING = "pending", _("Queued")
        RUNNING = "running", _("In progress")
        COMPLETED = "completed", pgettext_lazy("mailbox read", "Completed")
        COMPLETED_WITH_ERRORS = "completed_with_errors", pgettext_lazy("mailbox read", "Completed with errors")
        FAILED = "failed", pgettext_lazy("mailbox read", "Failed")
        SKIPPED = "skipped", _("Skipped (another read was in progress)")
        CANCELLED = "cancelled", pgettext_lazy("mailbox read", "Cancelled")

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    mailbox = models.ForeignKey(Mailbox, verbose_name=_("mailbox"), on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(_("status"), max_length=30, choices=Status.choices, default=Status.PENDING, db_index=True)
    messages_seen = models.PositiveIntegerField(_("messages seen"), default=0)
    messages_new = models.PositiveIntegerField(_("messages new"), default=0)
    attachments_stored = models.PositiveIntegerField(_("attachments stored"), default=0)
    attachments_deduplicated = models.PositiveIntegerField(_("attachments deduplicated"), default=0)
    attachments_failed = models.PositiveIntegerField(_("attachments failed"), default=0)
    messages_failed = models.PositiveIntegerField(_("messages failed"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    listed_at = models.DateTimeField(
        _("listed at"), null=True, blank=True, help_text=_("When listing the source finished.")
    )
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    options = models.JSONField(
        _("options"),
        default=dict,
        blank=True,
        help_text=_('Listing options of a backfill, e.g. {"since": "2024-01-01", "folders": ["Archive"]}.'),
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["mailbox", "status"])]
        verbose_name = _("mailbox read")
        verbose_name_plural = _("mailbox reads")

    def __str__(self) -> str:
        return gettext("%(mailbox)s: read of %(when)s (%(status)s)") % {
            "mailbox": self.mailbox,
            "when": local_time(self.created_at),
            "status": self.get_status_display().lower(),
        }

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class MailMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        QUARANTINED = "quarantined", _("Quarantined")

    mailbox = models.ForeignKey(Mailbox, verbose_name=_("mailbox"), on_delete=models.CASCADE, related_name="messages")
    fetch_run = models.ForeignKey(
        FetchRun,
        verbose_name=_("mailbox read"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    source_id = models.CharField(
        _("source id"), max_length=512, help_text=_("The source's stable id for this message.")
    )
    internet_message_id = models.CharField(_("internet message id"), max_length=998, blank=True, db_index=True)
    sender = models.CharField(_("sender"), max_length=998, blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(_("error"), blank=True)
    delivery_attempts = models.PositiveIntegerField(_("delivery attempts"), default=0)
    delivery_state = _delivery_state_field()
    delivery_at = _delivery_at_field()
    attachment_count = models.PositiveIntegerField(_("attachment count"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    settled_at = models.DateTimeField(
        _("settled at"),
        null=True,
        blank=True,
        help_text=_("When the source was told (moved or marked read); empty while it still shows the message as new."),
    )
    content_sha256 = models.CharField(
        _("content fingerprint"),
        max_length=64,
        blank=True,
        help_text=_("What makes two mails one: the same bytes, or the same Message-ID and the same attachments."),
    )
    copy_of = models.ForeignKey(
        "self",
        verbose_name=_("copy of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="copies",
        help_text=_("The message this one repeats, content and all; its files are kept there, once."),
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "source_id"], name="unique_message_per_mailbox"),
            models.UniqueConstraint(
                fields=["mailbox", "content_sha256"],
                condition=models.Q(copy_of__isnull=True) & ~models.Q(content_sha256=""),
                name="one_original_per_content",
            ),
        ]
        verbose_name = _("mail message")
        verbose_name_plural = _("mail messages")

    def __str__(self) -> str:
        return self.subject or self.source_id


class Blob(models.Model):
    """One stored object per distinct content, named by its hash."""

    sha256 = models.CharField(_("sha256"), max_length=64, unique=True)
    size = models.PositiveBigIntegerField(_("size"))
    content_type = models.CharField(_("content type"), max_length=255, blank=True)
    storage_name = models.CharField(_("storage name"), max_length=255)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("blob")
        verbose_name_plural = _("blobs")

    def __str__(self) -> str:
        return self.sha256


class Attachment(models.Model):
    class Status(models.TextChoices):
        STORED = "stored", _("Stored")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    class PreviewStatus(models.TextChoices):
        NONE = "none", _("No preview for this type")
        PENDING = "pending", _("Pending")
        ON_REQUEST = "on_request", _("On request")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    message = models.ForeignKey(
        MailMessage, verbose_name=_("message"), on_delete=models.CASCADE, related_name="attachments"
    )
    position = models.PositiveIntegerField(_("position"), help_text=_("Order of the attachment within its message."))
    original_filename = models.CharField(
        _("original filename"), max_length=1024, help_text=_("The name exactly as the sender gave it.")
    )
    filename = models.CharField(_("filename"), max_length=255, help_text=_("Safe name used for downloads."))
    content_type = models.CharField(_("content type"), max_length=255, blank=True)
    blob = models.ForeignKey(
        Blob, verbose_name=_("blob"), null=True, blank=True, on_delete=models.PROTECT, related_name="attachments"
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, db_index=True)
    error = models.TextField(_("error"), blank=True)
    container = models.ForeignKey(
        "self",
        verbose_name=_("container"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="members",
        help_text=_("The ZIP, Outlook message or winmail.dat attachment this file was taken out of."),
    )
    preview_status = models.CharField(
        _("preview status"), max_length=20, choices=PreviewStatus.choices, default=PreviewStatus.NONE, db_index=True
    )
    preview_name = models.CharField(
        _("preview name"), max_length=255, blank=True, help_text=_("Storage name of the PNG preview.")
    )
    preview_error = models.TextField(_("preview error"), blank=True)
    delivery_attempts = models.PositiveIntegerField(
        _("render deliveries"), default=0, help_text=_("Deliveries of the preview that never reported back.")
    )
    delivery_state = _delivery_state_field()
    delivery_at = _delivery_at_field()
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["message_id", "position"]
        constraints = [models.UniqueConstraint(fields=["message", "position"], name="unique_attachment_position")]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.filename


class MailboxAccess(models.Model):
    """Grants a user, or every member of a group, the sight of one mailbox and everything read from it.

    Superusers and holders of `inbox.view_all_mailboxes` see every mailbox; any other user sees
    only the mailboxes granted here, in every admin list and every download.
    """

    mailbox = models.ForeignKey(Mailbox, verbose_name=_("mailbox"), on_delete=models.CASCADE, related_name="accesses")
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mailbox_accesses",
    )
    group = models.ForeignKey(
        "auth.Group",
        verbose_name=_("group"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mailbox_accesses",
    )

    class Meta:
        verbose_name = _("mailbox access")
        verbose_name_plural = _("mailbox accesses")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="mailbox_access_user_xor_group",
            ),
            models.UniqueConstraint(fields=["mailbox", "user"], name="unique_mailbox_access_user"),
            models.UniqueConstraint(fields=["mailbox", "group"], name="unique_mailbox_access_group"),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.group} -> {self.mailbox}"
