"""Opening containers: a ZIP, an Outlook .msg or a TNEF (winmail.dat) attachment, member by member.

Plain Python, no Django. A container is opened from a file on local disk (ZIP's index is at
its end) and yields its members as IncomingAttachment objects, each streamed once, within
limits: what a limit leaves out is written to `notes`, for the container's own record.

Member names are data: they are handed back as the sender wrote them and never become a
path here. ZIP members are streamed (zipfile reads no more than a member's declared size,
and checks its CRC at the end); .msg and TNEF members come whole from their parsers, but no
larger than the container itself, which was already stored within the attachment size cap.
"""

from __future__ import annotations

import logging
import mimetypes
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.sources.base import CHUNK_SIZE, IncomingAttachment

#: Most members opened from the containers of one mail, nested ones included; the rest are left with a note.
MAX_MEMBERS = 200
#: Largest uncompressed size of one member.
MAX_MEMBER_BYTES = 50 * 1024 * 1024
#: Largest uncompressed size of all members of one mail's containers, nested ones included.
MAX_TOTAL_BYTES = 200 * 1024 * 1024
#: Highest uncompressed-to-compressed ratio of a ZIP member (deflate on real documents stays far below).
MAX_COMPRESSION_RATIO = 100
#: Members smaller than this are not judged by their ratio: they cannot hurt anyone.
RATIO_FLOOR_BYTES = 1024 * 1024
#: Largest ZIP index (central directory) read: zipfile makes an object of every entry before any limit
#: is looked at, about half a kilobyte for each 47 bytes; 2 MB is some 20,000 members of real names.
MAX_ZIP_INDEX_BYTES = 2 * 1024 * 1024
#: Most bytes tnefparse may copy: it slices off the rest of the file for every attribute it reads.
MAX_TNEF_COPY_BYTES = 32 * 1024 * 1024 * 1024
#: How many containers deep members are opened: a ZIP inside a ZIP is, one more level is not.
MAX_DEPTH = 2

ZIP, MSG, TNEF = "zip", "msg", "tnef"

_MAGIC = {
    ZIP: (b"PK\x03\x04", b"PK\x05\x06"),
    MSG: (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),  # OLE compound file; .doc and .xls are too, hence the name check
    TNEF: (b"\x78\x9f\x3e\x22",),
}
#: Declared types and names that may be containers; the first bytes decide.
_CANDIDATE_TYPES = {
    "application/zip",
    "application/x-zip-compressed",
    "application/vnd.ms-outlook",
    "application/ms-tnef",
    "application/vnd.ms-tnef",
}
_CANDIDATE_SUFFIXES = (".zip", ".msg", ".dat", ".tnef")
#: ZIP-based document formats: documents in their own right, not bundles of attachments.
_DOCUMENT_SUFFIXES = (".docx", ".xlsx", ".pptx", ".xlsm", ".docm", ".odt", ".ods", ".odp", ".epub", ".jar", ".apk")


class MemberRefused(Exception):
    """A member could not be read whole within the limits, or not at all; nothing of it is kept."""


@dataclass
class Budget:
    """What is left to take out of one mail's containers, shared by them all and the containers nested in them.

    Per mail, not per container: else a mail of many ZIPs, or a ZIP of many ZIPs, multiplies the limits.
    """

    bytes_left: int = field(default_factory=lambda: MAX_TOTAL_BYTES)
    members_left: int = field(default_factory=lambda: MAX_MEMBERS)
    #: Why no member is opened once `members_left` is spent: the limit that set it.
    members_limit: str = field(
        default_factory=lambda: f"the mail's containers gave up {MAX_MEMBERS} members already (the limit)"
    )
    #: Members left unopened for that reason.
    members_refused: int = 0


def may_be_container(*, content_type: str, filename: str) -> bool:
    """Worth a look at the first bytes: a container's type, or a container's name."""
    name = (filename or "").lower()
    if name.endswith(_DOCUMENT_SUFFIXES):
        return False
    return content_type in _CANDIDATE_TYPES or name.endswith(_CANDIDATE_SUFFIXES)


def container_kind(path: Path, *, content_type: str, filename: str) -> str | None:
    """ZIP, MSG or TNEF when the file's first bytes say so (and, for OLE, the name or type too), else None."""
    if not may_be_container(content_type=content_type, filename=filename):
        return None
    with path.open("rb") as handle:
        head = handle.read(8)
    for kind, signatures in _MAGIC.items():
        if head.startswith(signatures):
            if kind == MSG and not (filename.lower().endswith(".msg") or content_type == "application/vnd.ms-outlook"):
                return None
            return kind
    return None


def depth_refusal(depth: int) -> str:
    """The reason a container `depth` levels deep (1 = the mail's own attachment) is not opened, or ""."""
    if depth > MAX_DEPTH:
        return f"not opened: nested {depth} containers deep, past the limit of {MAX_DEPTH}"
    return ""


def members(path: Path, *, kind: str, notes: list[str], budget: Budget) -> Iterator[IncomingAttachment]:
    """The members of the container at `path`, in order; each must be read before the next is asked for."""
    opener = {ZIP: _zip_members, MSG: _msg_members, TNEF: _tnef_members}[kind]
    yield from opener(path, notes, budget)


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name.replace("\\", "/").rsplit("/", 1)[-1])[0] or "application/octet-stream"


def _name(raw: object) -> str:
    """A parser's name for a member, up to its first NUL (MAPI strings often carry their terminator)."""
    return str(raw or "").split("\x00", 1)[0]


def _megabytes(size: int) -> str:
    return f"{size // (1024 * 1024)} MB"


def _too_many(notes: list[str], total: int) -> None:
    notes.append(f"only the first {MAX_MEMBERS} of {total} members opened (limit {MAX_MEMBERS})")


def _refused(notes: list[str], name: str, reason: str) -> IncomingAttachment:
    notes.append(f"{name!r} {reason}")
    return IncomingAttachment(
        filename=name, content_type=_guess_type(name), skipped_reason=f"container member {reason}"
    )


def _over_total(notes: list[str], budget: Budget, size: int, left: int) -> bool:
    if size <= budget.bytes_left:
        budget.bytes_left -= size
        return False
    notes.append(
        f"{left} member(s) not opened: together they inflate past the {_megabytes(MAX_TOTAL_BYTES)} limit of one mail"
    )
    return True


def _over_count(notes: list[str], budget: Budget, left: int) -> bool:
    if budget.members_left > 0:
        budget.members_left -= 1
        return False
    notes.append(f"{left} member(s) not opened: {budget.members_limit}")
    budget.members_refused += left
    return True


def _zip_index_bytes(path: Path) -> int:
    """The size of a ZIP's index as its end record (ZIP64 too) says, which zipfile reads whole; 0 without one."""
    with path.open("rb") as handle:
        end = zipfile._EndRecData(handle)  # type: ignore[attr-defined]  # what ZipFile() itself reads first
    return int(end[zipfile._ECD_SIZE]) if end else 0  # type: ignore[attr-defined]


def _zip_members(path: Path, notes: list[str], budget: Budget) -> Iterator[IncomingAttachment]:
    try:
        if (index_bytes := _zip_index_bytes(path)) > MAX_ZIP_INDEX_BYTES:
            notes.append(
                f"not opened: its index is {_megabytes(index_bytes)}, past the {_megabytes(MAX_ZIP_INDEX_BYTES)} limit"
            )
            return
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        notes.append(f"not opened: not a readable ZIP ({exc})")
        return
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if any(info.filename == "[Content_Types].xml" for info in infos):
            return  # an Office document that was named .zip: kept as it is
        if len(infos) > MAX_MEMBERS:
            _too_many(notes, len(infos))
            infos = infos[:MAX_MEMBERS]
        for index, info in enumerate(infos):
            name = info.filename
            if _over_count(notes, budget, len(infos) - index):
                return
            if info.flag_bits & 0x1:
                yield _refused(notes, name, "is encrypted: not opened")
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                yield _refused(
                    notes,
                    name,
                    f"inflates to {_megabytes(info.file_size)}, past the {_megabytes(MAX_MEMBER_BYTES)} limit",
                )
                continue
            if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
                info.compress_size, 1
            ):
                ratio = info.file_size // max(info.compress_size, 1)
                yield _refused(
                    notes, name, f"inflates {ratio}:1, past the limit of {MAX_COMPRESSION_RATIO}:1 (a zip bomb?)"
                )
                continue
            if _over_total(notes, budget, info.file_size, len(infos) - index):
                return
            yield IncomingAttachment(
                filename=name, content_type=_guess_type(name), open_chunks=_zip_opener(archive, info)
            )


def _zip_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        read = 0
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(CHUNK_SIZE):
                    read += len(chunk)
                    if read > MAX_MEMBER_BYTES:  # zipfile stops at the declared size; this is the belt to its braces
                        raise MemberRefused(f"inflates past the {_megabytes(MAX_MEMBER_BYTES)} limit")
                    yield chunk
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError, OSError) as exc:
            raise MemberRefused(f"unreadable ZIP member ({exc})") from exc

    return chunks


def _whole(data: bytes) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[start : start + CHUNK_SIZE])

    return chunks


def _whole_members(
    found: list[tuple[str, bytes | None, str]], notes: list[str], budget: Budget
) -> Iterator[IncomingAttachment]:
    """Members a parser handed over whole: (name, data or None, why there is no data)."""
    if len(found) > MAX_MEMBERS:
        _too_many(notes, len(found))
        found = found[:MAX_MEMBERS]
    for index, (name, data, missing) in enumerate(found):
        if _over_count(notes, budget, len(found) - index):
            return
        if data is None:
            yield _refused(notes, name, missing)
            continue
        if len(data) > MAX_MEMBER_BYTES:
            yield _refused(notes, name, f"is {_megabytes(len(data))}, past the {_megabytes(MAX_MEMBER_BYTES)} limit")
            continue
        if _over_total(notes, budget, len(data), len(found) - index):
            return
        yield IncomingAttachment(filename=name, content_type=_guess_type(name), open_chunks=_whole(data))


def _msg_members(path: Path, notes: list[str], budget: Budget) -> Iterator[IncomingAttachment]:
    import extract_msg  # loaded only when a .msg arrives: it brings a dozen libraries along
    from extract_msg.enums import AttachmentType

    logging.getLogger("extract_msg").setLevel(logging.WARNING)  # it tells at INFO of every property it misses

    found: list[tuple[str, bytes | None, str]] = []
    try:
        with extract_msg.openMsg(str(path), strict=False) as msg:
            for attachment in msg.attachments:
                name = _name(
                    attachment.longFilename or attachment.shortFilename or getattr(attachment, "displayName", "")
                )
                if attachment.type == AttachmentType.DATA and isinstance(attachment.data, bytes):
                    found.append((name, attachment.data, ""))
                else:
                    kind = getattr(attachment.type, "name", "unknown").lower()
                    found.append((name, None, f"is not a plain file ({kind} attachment): not opened"))
    except Exception as exc:  # a third-party parser on hostile bytes: any failure is the file's
        notes.append(f"not opened: not a readable Outlook message ({type(exc).__name__}: {exc})")
        return
    yield from _whole_members(found, notes, budget)


def _tnef_refusal(data: bytes) -> str:
    """Why tnefparse must not have `data`, or "": the attributes walked as it walks them, without their cost."""
    offset, copied = 6, 0
    while offset + 12 < len(data):  # tnefparse's MIN_OBJ_SIZE
        _level, name, _type, declared = struct.unpack_from("<BHHI", data, offset)
        length = min(len(data) - offset, declared + 11)
        copied += len(data) - offset
        if copied > MAX_TNEF_COPY_BYTES:
            return (
                f"not opened: its parser would copy more than {_megabytes(MAX_TNEF_COPY_BYTES)} to read its attributes"
            )
        if name == 0x9006 and length - 11 != 4:  # attTnefVersion: logged bad with one Python int per byte
            return f"not opened: its TNEF version is {length - 11} bytes, not 4"
        offset += length
    return ""


def _tnef_members(path: Path, notes: list[str], budget: Budget) -> Iterator[IncomingAttachment]:
    import tnefparse

    logging.getLogger("tnefparse").setLevel(logging.WARNING)

    found: list[tuple[str, bytes | None, str]] = []
    data = path.read_bytes()
    if refusal := _tnef_refusal(data):
        notes.append(refusal)
        return
    try:
        parsed = tnefparse.TNEF(data, do_checksum=False)
        for attachment in parsed.attachments:
            name = _name(attachment.long_filename())
            if isinstance(attachment.data, bytes):
                found.append((name, attachment.data, ""))
            else:
                found.append((name, None, "has no data: not opened"))
    except Exception as exc:  # a third-party parser on hostile bytes: any failure is the file's
        notes.append(f"not opened: not a readable TNEF (winmail.dat) file ({type(exc).__name__}: {exc})")
        return
    yield from _whole_members(found, notes, budget)
