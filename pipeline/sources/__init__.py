"""Mailbox sources by kind: each kind is a factory taking the mailbox's settings dict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Source
from .folder import FolderSource


def _folder(settings: dict[str, Any]) -> Source:
    path = settings.get("path")
    if not path:
        raise ValueError("a folder mailbox needs settings['path']")
    return FolderSource(path)


def _graph(settings: dict[str, Any]) -> Source:
    from .graph import GraphSource  # requests, only in a process that reads a Microsoft 365 mailbox

    return GraphSource(settings)


#: Kind name -> factory(settings) -> Source.
SOURCE_KINDS: dict[str, Callable[[dict[str, Any]], Source]] = {"folder": _folder, "graph": _graph}


def open_source(kind: str, settings: dict[str, Any]) -> Source:
    try:
        factory = SOURCE_KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown mailbox source kind {kind!r}; known kinds: {', '.join(sorted(SOURCE_KINDS))}"
        ) from None
    return factory(settings)
