"""Whether a mailbox can be read: its folder exists and is readable, its Microsoft 365 app is set up,
and "Probar conexión": one real call to Graph (a token, then the configured user's folder) that
says in the accountant's words what is wrong, or what it found.

The texts are for the person at the screen: they name what to fix (the secret, the consent, the
address, the folder), never a stack trace.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from pipeline.sources.base import SourceError

from ..models import Mailbox

#: Entra's AADSTS codes for credentials it refuses: the secret (wrong, expired), the app, the tenant.
_SECRET_CODES = ("AADSTS7000215", "AADSTS7000222", "AADSTS7000216")
_APP_CODES = ("AADSTS700016",)
_TENANT_CODES = ("AADSTS90002", "AADSTS900023", "AADSTS90023")
#: Graph's error codes for a user it does not know (or whose mailbox it cannot open).
_UNKNOWN_USER_CODES = ("ErrorInvalidUser", "ErrorNonExistentMailbox", "MailboxNotEnabledForRESTAPI", "ResourceNotFound")
_STATUS = re.compile(r"answered (\d{3})")


def folder_unreadable(path: Path) -> str | None:
    """Why the folder mailbox at `path` (an existing folder) cannot be read, or None."""
    if not os.access(path, os.R_OK | os.X_OK):
        return _("The folder exists but this application may not read it (check its permissions).")
    try:
        next(os.scandir(path), None)
    except OSError:
        return _("The folder exists but this application may not read it (check its permissions).")
    return None


def graph_credentials_problem() -> str | None:
    """What is missing of the Microsoft 365 app's settings (the GRAPH_* variables), or None."""
    from pipeline.sources.graph_auth import credential_status

    status = credential_status()
    has_credential = status["GRAPH_CLIENT_SECRET"] or (
        (status["GRAPH_CLIENT_CERTIFICATE_PATH"] or status["GRAPH_CLIENT_CERTIFICATE"])
        and status["GRAPH_CLIENT_CERTIFICATE_THUMBPRINT"]
    )
    if status["GRAPH_TENANT_ID"] and status["GRAPH_CLIENT_ID"] and has_credential:
        return None
    return _(
        "The Microsoft 365 app is not set up on the server: GRAPH_TENANT_ID, GRAPH_CLIENT_ID and a "
        "client secret (or certificate) are needed."
    )


def mailbox_source_problems(mailbox: Mailbox) -> list[str]:
    """What keeps `mailbox` from being read as it is configured now (no call to the outside): a folder
    that is gone or unreadable, Microsoft 365 settings or credentials that are missing."""
    from ..forms import source_problems

    settings = mailbox.settings if isinstance(mailbox.settings, dict) else {}
    if mailbox.kind == Mailbox.Kind.FOLDER:
        raw = settings.get("path")
        if not isinstance(raw, str) or not raw.strip():
            return [_('A folder mailbox needs "path": the folder its .eml files are in.')]
        path = Path(raw.strip())
        if not path.is_dir():
            return [_("There is no folder at that path.")]
        unreadable = folder_unreadable(path)
        return [unreadable] if unreadable else []
    _cleaned, problems = source_problems(mailbox.kind, settings)
    if not problems:
        missing = graph_credentials_problem()
        problems = [missing] if missing else []
    return problems


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str


def graph_connection_test(settings: dict[str, Any]) -> ConnectionResult:
    """One real call: a token for the app, then the folder of the mailbox's user; never retried."""
    from pipeline.sources.graph_client import GraphClient, NotFound

    from ..forms import source_problems

    missing = graph_credentials_problem()
    if missing:
        return ConnectionResult(False, missing)
    # the user and folder name the URLs called: only as the form accepts them (an address, folder names)
    _cleaned, problems = source_problems(Mailbox.Kind.GRAPH, settings)
    if problems:
        return ConnectionResult(False, " ".join(problems))
    user = str(settings.get("user") or "")
    folder = str(settings.get("folder") or "Inbox")
    try:
        client = GraphClient(user)
        client.max_attempts = 1  # a person is waiting: say what is wrong now, not after the backoff
        found = _folder(client, folder)
    except _UnknownFolder as missing_folder:
        return ConnectionResult(
            False,
            _('The mailbox %(user)s has no folder "%(folder)s"; check the "folder" setting.')
            % {"user": user, "folder": missing_folder.name},
        )
    except (SourceError, NotFound, ValueError) as exc:
        return ConnectionResult(False, _failure_text(exc, user))
    return ConnectionResult(
        True,
        _('Connected: the folder "%(folder)s" of %(user)s holds %(count)s messages.')
        % {"folder": found.get("displayName", folder), "user": user, "count": found.get("totalItemCount", "?")},
    )


class _UnknownFolder(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _folder(client: Any, path: str) -> dict[str, Any]:
    """The folder at `path` ("Inbox/Suppliers") with its name and message count."""
    from pipeline.sources.graph import WELL_KNOWN_FOLDERS
    from pipeline.sources.graph_client import NotFound

    fields = {"$select": "id,displayName,totalItemCount"}
    found: dict[str, Any] | None = None
    for name in [part for part in path.split("/") if part]:
        if found is None and name.lower() in WELL_KNOWN_FOLDERS:
            try:
                found = client.get_json(f"/mailFolders/{name.lower()}", fields)
            except NotFound as exc:
                if any(code in str(exc) for code in _UNKNOWN_USER_CODES):
                    raise
                raise _UnknownFolder(name) from exc
            continue
        collection = f"/mailFolders/{found['id']}/childFolders" if found else "/mailFolders"
        escaped = name.replace("'", "''")
        answer = client.get_json(collection, {**fields, "$filter": f"displayName eq '{escaped}'"})
        found = next(iter(answer.get("value", [])), None)
        if found is None:
            raise _UnknownFolder(name)
    if found is None:
        raise _UnknownFolder(path)
    return found


def _failure_text(exc: Exception, user: str) -> str:
    import requests  # loaded by the Graph client that failed; not by every process that shows the form

    detail = str(exc)
    cause = exc.__cause__
    if isinstance(cause, requests.Timeout):
        return _("Microsoft 365 did not answer in time; try again, and check the server's network if it persists.")
    if isinstance(cause, requests.ConnectionError | OSError) or "cannot reach" in detail:
        return _("Microsoft 365 could not be reached from the server (network, proxy or firewall).")
    if any(code in detail for code in _SECRET_CODES):
        return _("Microsoft refused the client secret (GRAPH_CLIENT_SECRET): it is wrong or has expired.")
    if any(code in detail for code in _APP_CODES):
        return _("Microsoft does not know the app (GRAPH_CLIENT_ID) in this tenant.")
    if any(code in detail for code in _TENANT_CODES) or "Unable to get authority configuration" in detail:
        return _("Microsoft does not know the tenant (GRAPH_TENANT_ID).")
    if "token refused" in detail:
        return _("Microsoft refused the app's credentials (GRAPH_TENANT_ID, GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET).")
    if any(code in detail for code in _UNKNOWN_USER_CODES):
        return _('Microsoft 365 has no mailbox %(user)s; check the "user" setting.') % {"user": user}
    status = _STATUS.search(detail)
    if status and status[1] == "403":
        return _(
            "The app may not read this mailbox: an administrator must grant it Mail.ReadWrite "
            "(application) with admin consent, or an access policy leaves this mailbox out."
        )
    if status and status[1] == "401":
        return _("Microsoft 365 refused the app's token; check the app's credentials and tenant.")
    return _("Microsoft 365 answered with an error: %(detail)s") % {"detail": detail[:300]}
