"""The mailbox form of the admin: where a mailbox reads from is checked before it is saved.

A folder mailbox reads an existing, readable folder inside FOLDER_MAILBOX_ROOT (the state folder
when unset), symbolic links resolved. A Graph mailbox names its user by e-mail address or object id (GUID),
and its folders by a path of display names ("Inbox/Suppliers"). Unknown settings are refused, so
a misspelt one does not silently fall back to its default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django import forms
from django.utils.translation import gettext as _

from pipeline import config

from .models import Mailbox
from .services.mailbox_checks import folder_unreadable

#: The settings each kind of mailbox reads (pipeline/sources).
KNOWN_SETTINGS: dict[str, set[str]] = {
    Mailbox.Kind.FOLDER: {"path"},
    Mailbox.Kind.GRAPH: {"user", "folder", "processed_folder", "failed_folder", "mark_read", "include_inline"},
}
GRAPH_FOLDER_SETTINGS = ("folder", "processed_folder", "failed_folder")
GRAPH_FLAG_SETTINGS = ("mark_read", "include_inline")

#: A user principal name or SMTP address: nothing that could leave the URL path it goes into.
EMAIL = re.compile(r"^[A-Za-z0-9!^~._'+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
GUID = re.compile(r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")
#: Graph caps a folder's display name; a deeper path than this is a mistake.
FOLDER_NAME_MAX = 255
FOLDER_DEPTH_MAX = 10
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def folder_root() -> Path:
    """Where folder mailboxes may read: FOLDER_MAILBOX_ROOT, else the state folder."""
    root: str = config.get("FOLDER_MAILBOX_ROOT")
    return Path(root).resolve() if root else config.state_dir()


def source_problems(kind: str, settings: Any) -> tuple[Any, list[str]]:
    """(the settings to save, what is wrong with them); the texts are for the person editing."""
    if not isinstance(settings, dict):
        return settings, [_('The settings must be a JSON object, e.g. {"path": "..."}.')]
    unknown = sorted(set(settings) - KNOWN_SETTINGS.get(kind, set()))
    if unknown:
        known = ", ".join(sorted(KNOWN_SETTINGS.get(kind, set())))
        return settings, [
            _("Unknown setting(s) for this kind of mailbox: %(unknown)s. Known: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": known}
        ]
    if kind == Mailbox.Kind.FOLDER:
        return _folder_settings(settings)
    if kind == Mailbox.Kind.GRAPH:
        return settings, _graph_problems(settings)
    return settings, [_("Unknown kind of mailbox.")]


def _folder_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    raw = settings.get("path")
    if not isinstance(raw, str) or not raw.strip():
        return settings, [_('A folder mailbox needs "path": the folder its .eml files are in.')]
    path = Path(raw.strip())
    if not path.is_absolute():
        return settings, [_("The folder path must be absolute (start with /).")]
    resolved, root = path.resolve(), folder_root()
    if not resolved.is_relative_to(root):
        return settings, [_("The folder must be inside the folder allowed for mailboxes (FOLDER_MAILBOX_ROOT).")]
    if not resolved.is_dir():
        return settings, [_("There is no folder at that path.")]
    unreadable = folder_unreadable(resolved)
    if unreadable:
        return settings, [unreadable]
    return {**settings, "path": str(resolved)}, []


def _graph_problems(settings: dict[str, Any]) -> list[str]:
    problems = []
    user = settings.get("user")
    if not isinstance(user, str) or not (EMAIL.match(user) or GUID.match(user)):
        problems.append(
            _(
                'A Microsoft 365 mailbox needs "user": its e-mail address (invoices@contoso.com) or its object id (GUID).'
            )
        )
    for name in GRAPH_FOLDER_SETTINGS:
        value = settings.get(name)
        if value is None and name != "folder":
            continue
        if not _folder_path_ok(value, missing_ok=name == "folder"):
            problems.append(
                _('"%(name)s" must be a folder path of names from the mailbox root, e.g. "Inbox/Suppliers".')
                % {"name": name}
            )
    for name in GRAPH_FLAG_SETTINGS:
        if name in settings and not isinstance(settings[name], bool):
            problems.append(_('"%(name)s" must be true or false.') % {"name": name})
    if settings.get("mark_read") is True and settings.get("processed_folder"):
        problems.append(_('Choose one: "mark_read" (processed mail stays in place) or a "processed_folder".'))
    return problems


def _folder_path_ok(value: Any, *, missing_ok: bool) -> bool:
    if value is None:
        return missing_ok
    if not isinstance(value, str):
        return False
    names = value.split("/")
    return 0 < len(names) <= FOLDER_DEPTH_MAX and all(
        name.strip() and len(name) <= FOLDER_NAME_MAX and not _CONTROL.search(name) for name in names
    )


class MailboxForm(forms.ModelForm):
    """Checks kind and settings together when both are on the form (an operator's, see MailboxAdmin)."""

    class Meta:
        model = Mailbox
        fields = ("name", "kind", "settings", "active")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "kind" not in self.fields or "settings" not in self.fields or self.has_error("settings"):
            return cleaned
        kind = cleaned.get("kind") or self.instance.kind
        settings, problems = source_problems(kind, cleaned.get("settings"))
        for problem in problems:
            self.add_error("settings", problem)
        if not problems:
            cleaned["settings"] = settings
        return cleaned
