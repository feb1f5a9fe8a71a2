"""Test-only module the fault tests load into the real worker: `dramatiq pipeline.actors tests.support.fault_probe`.

It patches none of our code. It listens to Django's model signals, as any app may:
- an attachment named `poison*` makes the worker process exit on the spot (os._exit), like a
  segfault in a parser would: the poison arrives as real input, through the real source;
- an XML attachment named `bomb*` does the same while it is rendered (as its classification is
  recorded, after parsing), as a render bomb that makes PDFium abort would;
- an XML attachment named `slow*` takes SLOW_SECONDS more at that point, so that it is surely in
  flight when a bomb rendered beside it ends the process;
- with FAULT_PROBE_LOG set, every attachment row written is logged as `<pid> <message id> <position>`,
  so a test can tell which worker process handled what.
"""

from __future__ import annotations

import os
import time

from django.db.models.signals import post_save, pre_save

from webapp.documents.models import XmlClassification
from webapp.inbox.models import Attachment

#: The exit status of a poisoned worker process.
POISON_EXIT = 86
#: What a `slow*` XML adds to its render: the renders beside it (a pair, a bomb) take milliseconds.
SLOW_SECONDS = 3.0


def _poison(sender, instance: Attachment, **kwargs) -> None:
    if (instance.original_filename or "").startswith("poison"):
        os._exit(POISON_EXIT)


def _bomb(sender, instance: XmlClassification, **kwargs) -> None:
    if (instance.attachment.original_filename or "").startswith("bomb"):
        os._exit(POISON_EXIT)


def _slow(sender, instance: XmlClassification, **kwargs) -> None:
    if (instance.attachment.original_filename or "").startswith("slow"):
        time.sleep(SLOW_SECONDS)


def _log(sender, instance: Attachment, created: bool, **kwargs) -> None:
    path = os.environ.get("FAULT_PROBE_LOG")
    if path and created:
        with open(path, "a") as log:
            log.write(f"{os.getpid()} {instance.message_id} {instance.position}\n")


pre_save.connect(_poison, sender=Attachment, dispatch_uid="fault_probe_poison")
pre_save.connect(_bomb, sender=XmlClassification, dispatch_uid="fault_probe_bomb")
pre_save.connect(_slow, sender=XmlClassification, dispatch_uid="fault_probe_slow")
post_save.connect(_log, sender=Attachment, dispatch_uid="fault_probe_log")
