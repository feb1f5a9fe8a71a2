"""Namespace-agnostic reading of SII XML: children by local name, their text, dates, what is not held."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from lxml import etree

from .values import Values, finite
from .xmlsafe import local_name


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    for found in element:
        if local_name(found) == name:
            return found
    return None


def children(element: etree._Element | None, name: str) -> list[etree._Element]:
    return [] if element is None else [c for c in element if local_name(c) == name]


def first_children(element: etree._Element) -> dict[str, etree._Element]:
    """The first child of each local name, as `child` finds it: for an element read field by field."""
    found: dict[str, etree._Element] = {}
    for element_child in element:
        found.setdefault(local_name(element_child), element_child)
    return found


def path(element: etree._Element | None, *names: str) -> etree._Element | None:
    for name in names:
        element = child(element, name)
    return element


def text(element: etree._Element | None, *names: str) -> str:
    found = path(element, *names)
    return (found.text or "").strip() if found is not None else ""


def iso_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def read_date(value: str, name: str, values: Values) -> date | None:
    """A date that bears on money (a due date): one that is not is noted, not dropped in silence."""
    found = iso_date(value)
    if found is None and value:
        values.note(name, value, "is not a date (YYYY-MM-DD); left blank")
    return found


def note_unheld(element: etree._Element | None, held: Collection[str], where: str, values: Values) -> None:
    """Each child of `element` the model has no place for, once by name, unless it carries nothing (blank, 0)."""
    if element is None:
        return
    said: set[str] = set()
    for found in element:
        name = local_name(found)
        if not name or name in held or name in said or not carries(found):
            continue
        said.add(name)
        values.unheld(f"{where}/{name}")


def carries(element: etree._Element | None) -> bool:
    """True when `element` holds something: children, or text other than blanks and a zero."""
    if element is None:
        return False
    if len(element):
        return True
    value = (element.text or "").strip()
    number = finite(value) if value else None
    return bool(value) and (number is None or number != 0)
