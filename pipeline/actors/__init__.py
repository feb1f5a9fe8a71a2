"""Dramatiq entry points. Thin: load by id, call the service, send what comes next.

Importing this package sets Django up (the worker has no other entry point) and the broker.
"""

import os

import django
from django.apps import apps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
if not apps.ready:
    django.setup()

from pipeline.broker import setup_broker

broker = setup_broker()

from .fetch import fetch_mailbox  # noqa: E402
from .render import render_attachment  # noqa: E402
from .save import save_message  # noqa: E402
from .tick import tick  # noqa: E402

__all__ = ["broker", "fetch_mailbox", "render_attachment", "save_message", "tick"]
