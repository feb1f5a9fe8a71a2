"""The Spanish catalogue is whole: every message the code and the templates use is in the .po, translated
and not fuzzy, and the committed .mo says exactly what the .po says."""

from __future__ import annotations

import ast
import gettext
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.support.needs import missing

LOCALE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES"
PO, MO = LOCALE / "django.po", LOCALE / "django.mo"
#: The folders whose strings makemessages extracts (the README's command leaves out tests, bench, deploy).
SOURCES = ("webapp", "pipeline")
#: A .mo keys a message with a context as "context\x04msgid".
CONTEXT_SEPARATOR = "\x04"


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (a dict index -> text), flags.

    A small parser for what makemessages writes; obsolete entries (#~) are left out.
    """
    entries: list[dict] = []
    entry: dict | None = None
    field: tuple[str, int] = ("msgid", 0)
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            if entry is not None:
                entries.append(entry)
            entry = None
            continue
        if line.startswith("#~"):
            continue
        if entry is None:
            entry = {"msgctxt": None, "msgid": "", "msgid_plural": None, "msgstr": {}, "flags": set()}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif match := re.match(r'^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])? (".*")$', line):
            key, index, text = match.groups()
            field = (key, int(index or 0))
            _append(entry, field, ast.literal_eval(text))
        elif line.startswith('"'):
            _append(entry, field, ast.literal_eval(line))
        else:
            raise AssertionError(f"{path}: cannot read {line!r}")
    return entries


def _append(entry: dict, field: tuple[str, int], text: str) -> None:
    key, index = field
    if key == "msgstr":
        entry["msgstr"][index] = entry["msgstr"].get(index, "") + text
    else:
        entry[key] = (entry[key] or "") + text


def _messages(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["msgid"]]  # not the header


def _key(entry: dict) -> str:
    return entry["msgid"] if entry["msgctxt"] is None else f"{entry['msgctxt']}{CONTEXT_SEPARATOR}{entry['msgid']}"


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[sd]|\{\}", text))


def _problems(entries: list[dict]) -> list[str]:
    """What is wrong with the catalogue's messages: untranslated, fuzzy, a plural or placeholder amiss."""
    problems = []
    for entry in _messages(entries):
        name = repr(_key(entry))
        forms = entry["msgstr"]
        if "fuzzy" in entry["flags"]:
            problems.append(f"fuzzy: {name}")
        if not forms or not all(text.strip() for text in forms.values()):
            problems.append(f"untranslated: {name}")
        if entry["msgid_plural"] is not None and sorted(forms) != [0, 1, 2]:
            problems.append(f"not three plural forms (Spanish in Django has three): {name}")
        for text in forms.values():  # a placeholder lost or misspelt breaks the page at run time
            if text.strip() and _placeholders(text) != _placeholders(entry["msgid"]):
                problems.append(f"placeholders differ: {name} -> {text!r}")
    return problems


def test_every_entry_is_translated_and_none_is_fuzzy():
    entries = read_po(PO)
    header = entries[0]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert "Language: es" in header["msgstr"][0]
    assert len(_messages(entries)) > 100
    assert _problems(entries) == []


def test_every_message_the_code_uses_is_in_the_catalogue(tmp_path, settings, monkeypatch):
    """makemessages over a copy of the sources, merged into a copy of our .po: what it adds comes back
    untranslated (or fuzzy, when gettext guesses from a near one), and fails here."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        missing("gettext (xgettext, msgmerge)", install="apt-get install -y gettext")
    for folder in SOURCES:
        shutil.copytree(
            Path(settings.BASE_DIR) / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    copy = tmp_path / "locale" / "es" / "LC_MESSAGES"
    copy.mkdir(parents=True)
    shutil.copy(PO, copy / "django.po")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["es"], no_obsolete=True, no_location=True, verbosity=0)
    extracted = read_po(copy / "django.po")
    assert len(_messages(extracted)) > 100, "makemessages found the sources"
    assert _problems(extracted) == []


def test_the_committed_mo_holds_exactly_the_po():
    """A fresh machine needs no gettext: the .mo is in the repo, and must say what the .po says."""
    assert MO.exists(), "run: manage.py compilemessages"
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    expected: dict = {}
    for entry in _messages(read_po(PO)):
        if entry["msgid_plural"] is None:
            expected[_key(entry)] = entry["msgstr"][0]
        else:
            expected.update({(_key(entry), index): text for index, text in entry["msgstr"].items()})
    compiled = {key: value for key, value in catalog.items() if key != ""}
    assert compiled == expected, "the .mo is stale: run manage.py compilemessages"


@pytest.mark.parametrize("word", ["worker", "Dramatiq", "actor", "run #", "ejecución", "Descargar ahora"])
def test_no_spanish_message_speaks_of_the_machinery(word):
    """What an accountant reads says lectura del buzón and Leer ahora, not the names of our processes."""
    said = [
        text
        for entry in _messages(read_po(PO))
        for text in entry["msgstr"].values()
        if re.search(rf"\b{re.escape(word)}", text, flags=re.IGNORECASE)
    ]
    assert said == []
