"""A stored file parsed in the sandbox's child: `parse_path`, the size cap, the result of no parser.

Light on purpose: no lxml, no cryptography. A web or worker process imports this and the
package's models; the parsers (pipeline/dte/registry.py and what registers there) load only in
the child that runs them.
"""

from __future__ import annotations

import os

from pipeline import config, sandbox

from .model import Kind, ParsedFile

#: Largest XML we parse; a real EnvioDTE of hundreds of DTE is a few MB.
MAX_XML_BYTES = config.get("DTE_MAX_XML_MB") * 1024 * 1024
#: Format name of a file no registered parser claims.
UNKNOWN_FORMAT = "unknown"


def parse_path(path: str | os.PathLike[str], *, content_type: str = "") -> ParsedFile:
    """`parse_file` of the file at `path`, read and parsed in the sandbox; never raises for bad input.

    A limit the file goes over makes it INVALID with the reason; OSError (file missing) propagates.
    """
    try:
        return sandbox.run(parse_stored, os.fspath(path), content_type, task="reading the XML")
    except sandbox.SandboxError as exc:
        return invalid(f"{exc}; not parsed")


def parse_stored(path: str, content_type: str) -> ParsedFile:
    """Read at most the size cap from `path` and parse it, in this process (the sandbox's child runs this)."""
    from .registry import parse_file

    with open(path, "rb") as handle:
        data = handle.read(MAX_XML_BYTES + 1)
    return parse_file(data, content_type=content_type)


def invalid(problem: str) -> ParsedFile:
    return ParsedFile(format=UNKNOWN_FORMAT, kind=Kind.INVALID, problems=[problem])
