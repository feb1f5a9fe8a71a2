"""Containers (ZIP, Outlook .msg, winmail.dat) through the real folder source, services, storage and render queue.

Each member becomes an attachment of its own, linked to its container; limits end in a reason
recorded on the container, and the well-formed mail beside it is stored as ever.
"""

from __future__ import annotations

import io
import resource
import struct
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from pipeline import containers, samples
from tests.support.inline import GOOD_PDF, process_folder
from tests.support.thumbnails import make_thumbnail
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, Blob

pytestmark = pytest.mark.django_db

PDF = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=77, total=1190)
XML = samples.dte_xml(folio=77)
ZIP_TYPE = "application/zip"


def zip_of(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def mail_with(*parts: tuple[str, str, bytes]) -> bytes:
    return samples.supplier_email(attachments=list(parts))


@pytest.fixture
def run_mail(tmp_path):
    """Drop the given e-mails (plus one well-formed one) into a folder mailbox, fetch, save and render them."""

    def run(*mails: bytes):
        why = "a container ends in stored members or a recorded reason, never an exception"
        processed = process_folder(tmp_path / "inbox", mails, name="containers", why=why)
        return processed.run

    return run


def only(source_id: str, **filters) -> Attachment:
    return Attachment.objects.select_related("blob", "container").get(message__source_id=source_id, **filters)


def test_a_zip_with_a_dte_and_its_pdf_becomes_two_members_and_a_document(run_mail):
    run_mail(mail_with(("factura.zip", ZIP_TYPE, zip_of(("F77.xml", XML), ("F77.pdf", PDF)))))
    box = only("01.eml", original_filename="factura.zip")
    assert box.status == Attachment.Status.STORED and box.container is None and box.error == ""
    xml, pdf = box.members.order_by("position")
    own_parts = Attachment.objects.filter(message__source_id="01.eml", container__isnull=True).count()
    assert [xml.position, pdf.position] == [own_parts, own_parts + 1]  # after all the mail's own parts
    assert (xml.filename, xml.content_type, xml.status) == ("F77.xml", "application/xml", Attachment.Status.STORED)
    assert (pdf.filename, pdf.content_type, pdf.status) == ("F77.pdf", "application/pdf", Attachment.Status.STORED)
    assert make_thumbnail(pdf).preview_status == Attachment.PreviewStatus.READY
    document = Document.objects.get(xml_attachment=xml)
    assert document.folio == 77
    assert box.message.attachment_count == own_parts


def test_the_same_pdf_inside_and_outside_a_zip_is_one_blob(run_mail):
    run_mail(mail_with(("F77.pdf", "application/pdf", PDF), ("copia.zip", ZIP_TYPE, zip_of(("copia.pdf", PDF)))))
    outside = only("01.eml", original_filename="F77.pdf")
    inside = only("01.eml", original_filename="copia.pdf")
    assert inside.container.original_filename == "copia.zip"
    assert inside.blob_id == outside.blob_id and inside.status == Attachment.Status.STORED
    assert (
        Blob.objects.filter(attachments__message__source_id="01.eml", content_type="application/pdf").distinct().count()
        == 1
    )


def test_a_nested_zip_is_opened_within_the_depth_limit_and_recorded_beyond_it(run_mail):
    assert containers.MAX_DEPTH == 2
    deepest = zip_of(("deep.pdf", PDF))
    middle = zip_of(("inner.pdf", GOOD_PDF), ("third.zip", deepest))
    run_mail(mail_with(("outer.zip", ZIP_TYPE, zip_of(("second.zip", middle)))))
    outer = only("01.eml", original_filename="outer.zip")
    second = only("01.eml", original_filename="second.zip")
    third = only("01.eml", original_filename="third.zip")
    assert second.container == outer and third.container == second
    assert only("01.eml", original_filename="inner.pdf").container == second
    assert third.status == Attachment.Status.STORED and "nested 3 containers deep" in third.error
    assert not third.members.exists()
    assert not Attachment.objects.filter(original_filename="deep.pdf").exists()


def encrypt_flag(data: bytes) -> bytes:
    """Mark every member as encrypted, as a password-protected ZIP does (zipfile cannot write one)."""
    raw = bytearray(data)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            (flags,) = struct.unpack_from("<H", raw, start + flag_offset)
            struct.pack_into("<H", raw, start + flag_offset, flags | 0x1)
            start += 4
    return bytes(raw)


def test_an_encrypted_member_is_recorded_not_opened(run_mail):
    run_mail(mail_with(("secreto.zip", ZIP_TYPE, encrypt_flag(zip_of(("F77.pdf", PDF))))))
    box = only("01.eml", original_filename="secreto.zip")
    member = box.members.get()
    assert member.status == Attachment.Status.SKIPPED and "encrypted" in member.error and member.blob is None
    assert box.status == Attachment.Status.STORED and "'F77.pdf' is encrypted" in box.error


def test_member_names_are_data_never_paths(run_mail, tmp_path):
    run_mail(mail_with(("x.zip", ZIP_TYPE, zip_of(("../../etc/passwd", PDF), ("/abs/evil.xml", XML)))))
    member = only("01.eml", original_filename="../../etc/passwd")
    assert member.filename == "passwd" and member.blob.storage_name.startswith("blobs/")
    assert only("01.eml", original_filename="/abs/evil.xml").filename == "evil.xml"
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc").exists()


BOMB_BYTES = 1100 * 1024 * 1024


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """About a megabyte of ZIP that inflates to 1.1 GB of zeros, written a chunk at a time."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    zeros = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("factura.xml", "w") as member,
    ):
        for _ in range(BOMB_BYTES // len(zeros)):
            member.write(zeros)
    assert path.stat().st_size < 2 * 1024 * 1024
    return path


def lie_about_size(data: bytes, *, size: int) -> bytes:
    """The central directory says the member inflates to `size`: a bomb that hides behind a modest header."""
    raw = bytearray(data)
    start = raw.rfind(b"PK\x01\x02")
    struct.pack_into("<I", raw, start + 24, size)
    return bytes(raw)


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@pytest.mark.parametrize("header", ["honest", "lying"])
def test_a_zip_bomb_costs_one_container_and_flat_memory(run_mail, bomb, header):
    data = bomb.read_bytes()
    if header == "lying":  # declared at 40 MB, 40:1: past the ratio check, so the member is read until it fails
        data = lie_about_size(data, size=40 * 1024 * 1024)
    before = peak_rss_bytes()
    run_mail(mail_with(("bomb.zip", ZIP_TYPE, data), ("F77.pdf", "application/pdf", PDF)))
    growth = peak_rss_bytes() - before
    print(
        f"\npeak RSS growth around saving a {len(data) // 1024} KB zip bomb ({header} header): {growth / 2**20:.1f} MB"
    )
    assert growth < 50 * 1024 * 1024
    box = only("01.eml", original_filename="bomb.zip")
    assert box.status == Attachment.Status.STORED
    member = box.members.get()
    assert member.blob is None
    if header == "honest":
        assert member.status == Attachment.Status.SKIPPED
        assert "'factura.xml' inflates to 1100 MB, past the 50 MB limit" in box.error
    else:
        assert member.status == Attachment.Status.FAILED and "not stored: unreadable ZIP member" in member.error
    assert only("01.eml", original_filename="F77.pdf").status == Attachment.Status.STORED


def test_the_ratio_limit_refuses_a_member_under_the_size_limit(run_mail):
    run_mail(mail_with(("zeros.zip", ZIP_TYPE, zip_of(("zeros.xml", bytes(20 * 1024 * 1024))))))
    box = only("01.eml", original_filename="zeros.zip")
    assert "past the limit of 100:1" in box.error and box.members.get().status == Attachment.Status.SKIPPED


def test_member_count_and_total_size_limits_are_recorded(run_mail, monkeypatch):
    monkeypatch.setattr(containers, "MAX_MEMBERS", 3)
    many = zip_of(*((f"n{index}.txt", b"note %d" % index) for index in range(5)))
    monkeypatch.setattr(containers, "MAX_TOTAL_BYTES", 2 * len(PDF) + 10)
    heavy = zip_of(("a.pdf", PDF), ("b.pdf", PDF + b"\n"), ("c.pdf", PDF + b"\n\n"))
    run_mail(mail_with(("many.zip", ZIP_TYPE, many)), mail_with(("heavy.zip", ZIP_TYPE, heavy)))
    many_box = only("01.eml", original_filename="many.zip")
    assert many_box.members.count() == 3 and "only the first 3 of 5 members opened" in many_box.error
    heavy_box = only("02.eml", original_filename="heavy.zip")
    assert heavy_box.members.count() == 2 and "1 member(s) not opened" in heavy_box.error


# --- Outlook .msg: an OLE compound file (MS-CFB) with MAPI property streams (MS-OXMSG) -------------

_FREE, _END, _FAT_SECTOR, _NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def compound_file(tree: dict) -> bytes:
    """A minimal version-3 compound file: `tree` maps names to bytes (streams) or dicts (storages)."""
    entries: list[dict] = [{"name": "Root Entry", "type": 5, "data": b"", "kids": [], "start": _END}]

    def add(parent: int, node: dict) -> None:
        for name, value in node.items():
            storage = isinstance(value, dict)
            entries.append({"name": name, "type": 1 if storage else 2, "data": b"" if storage else value, "kids": []})
            entries[parent]["kids"].append(len(entries) - 1)
            if storage:
                add(len(entries) - 1, value)

    add(0, tree)
    mini, minifat = bytearray(), []
    for entry in entries[1:]:  # streams under 4096 bytes live in the mini stream, in 64-byte sectors
        data = entry["data"]
        entry.setdefault("start", 0 if entry["type"] == 1 else _END)
        if entry["type"] == 2 and 0 < len(data) < 4096:
            entry["start"] = len(mini) // 64
            count = -(-len(data) // 64)
            minifat += [len(minifat) + i + 1 for i in range(count - 1)] + [_END]
            mini += data + bytes(count * 64 - len(data))
    sectors: list[bytes] = []
    chains: list[tuple[int, int]] = []

    def place(data: bytes) -> int:  # sector numbers relative to the end of the FAT, fixed up below
        first = len(sectors)
        padded = data + bytes(-len(data) % 512)
        sectors.extend(padded[i : i + 512] for i in range(0, len(padded), 512))
        chains.append((first, len(sectors) - first))
        return first

    directory_first = place(bytes(128 * len(entries)))
    minifat_first = place(b"".join(struct.pack("<I", n) for n in minifat)) if minifat else None
    relative = {}
    if mini:
        relative[0] = place(bytes(mini))
        entries[0]["data"] = bytes(mini)
    for index, entry in enumerate(entries[1:], start=1):
        if entry["type"] == 2 and len(entry["data"]) >= 4096:
            relative[index] = place(entry["data"])
    fat_count = 1
    while fat_count * 128 < fat_count + len(sectors):
        fat_count += 1
    fat = [_FAT_SECTOR] * fat_count + [_FREE] * (fat_count * 127)
    for first, count in chains:
        for i in range(count):
            fat[fat_count + first + i] = fat_count + first + i + 1 if i < count - 1 else _END
    for index, first in relative.items():
        entries[index]["start"] = fat_count + first
    for entry in entries:  # each storage's children: a right-leaning chain, all black
        kids = entry["kids"]
        entry["child"] = kids[0] if kids else _NONE
        for here, after in zip(kids, [*kids[1:], _NONE], strict=False):
            entries[here]["right"] = after
    directory = b"".join(
        struct.pack(
            "<64sHBBIII16sIQQIQ",
            entry["name"].encode("utf-16-le") + b"\0\0",
            len(entry["name"].encode("utf-16-le")) + 2,
            entry["type"],
            1,
            _NONE,
            entry.get("right", _NONE),
            entry["child"],
            bytes(16),
            0,
            0,
            0,
            entry["start"],
            len(entry["data"]),
        )
        for entry in entries
    )
    directory += bytes(-len(directory) % 512)
    for i in range(len(directory) // 512):
        sectors[directory_first + i] = directory[i * 512 : (i + 1) * 512]
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        bytes(16),
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        bytes(6),
        0,
        fat_count,
        fat_count + directory_first,
        0,
        4096,
        _END if minifat_first is None else fat_count + minifat_first,
        -(-len(minifat) * 4 // 512),
        _END,
        0,
    ) + struct.pack("<109I", *(list(range(fat_count)) + [_FREE] * (109 - fat_count)))
    return header + struct.pack(f"<{len(fat)}I", *fat) + b"".join(sectors)


def _props(header: bytes, properties: list[tuple[int, int]]) -> bytes:
    """A property stream: fixed-length values inline, variable-length ones by their size."""
    return header + b"".join(struct.pack("<IIQ", tag, 6, value) for tag, value in properties)


def _text(value: str) -> bytes:
    return value.encode("utf-16-le") + b"\0\0"


def outlook_msg(files: list[tuple[str, bytes]]) -> bytes:
    """An Outlook message saved as .msg, with `files` attached by value."""
    subject = _text("Factura 77")
    tree: dict = {
        "__nameid_version1.0": {"__substg1.0_00020102": b"", "__substg1.0_00030102": b"", "__substg1.0_00040102": b""},
        "__substg1.0_001A001F": _text("IPM.Note"),
        "__substg1.0_0037001F": subject,
        "__properties_version1.0": _props(
            struct.pack("<8sIIII8s", bytes(8), 0, len(files), 0, len(files), bytes(8)),
            [(0x001A001F, len(_text("IPM.Note"))), (0x0037001F, len(subject))],
        ),
    }
    for index, (name, data) in enumerate(files):
        tree[f"__attach_version1.0_#{index:08X}"] = {
            "__substg1.0_37010102": data,
            "__substg1.0_3707001F": _text(name),
            "__properties_version1.0": _props(
                bytes(8), [(0x37050003, 1), (0x37010102, len(data)), (0x3707001F, len(_text(name)))]
            ),
        }
    return compound_file(tree)


def test_an_outlook_msg_yields_its_attachments(run_mail):
    msg = outlook_msg([("F77.xml", XML), ("F77.pdf", PDF)])
    run_mail(mail_with(("reenviado.msg", "application/vnd.ms-outlook", msg)))
    box = only("01.eml", original_filename="reenviado.msg")
    assert box.status == Attachment.Status.STORED and box.error == ""
    xml, pdf = box.members.order_by("position")
    assert (xml.original_filename, xml.blob.sha256) == ("F77.xml", Blob.objects.get(attachments=xml).sha256)
    assert xml.blob.size == len(XML) and pdf.blob.size == len(PDF) and pdf.content_type == "application/pdf"
    assert Document.objects.filter(xml_attachment=xml, folio=77).exists()


# --- winmail.dat: TNEF attributes (MS-OXTNEF) ----------------------------------------------------

TNEF_SIGNATURE = 0x223E9F78


def _attribute(level: int, attribute: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def winmail_dat(files: list[tuple[str, bytes]]) -> bytes:
    """What Outlook sends as winmail.dat (application/ms-tnef), with `files` attached."""
    out = struct.pack("<IH", TNEF_SIGNATURE, 0x0001)
    out += _attribute(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _attribute(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    for name, data in files:
        out += _attribute(2, 0x00069002, bytes(14))  # attAttachRendData: a new attachment starts
        out += _attribute(2, 0x00018010, name.encode("cp1252") + b"\0")  # attAttachTitle
        out += _attribute(2, 0x0006800F, data)  # attAttachData
    return out


def test_a_winmail_dat_yields_its_attachments(run_mail):
    tnef = winmail_dat([("F77.xml", XML), ("F77.pdf", PDF)])
    run_mail(mail_with(("winmail.dat", "application/ms-tnef", tnef)))
    box = only("01.eml", original_filename="winmail.dat")
    assert box.status == Attachment.Status.STORED and box.error == ""
    xml, pdf = box.members.order_by("position")
    assert xml.original_filename == "F77.xml" and xml.blob.size == len(XML)
    assert pdf.original_filename == "F77.pdf" and pdf.blob.size == len(PDF) and pdf.content_type == "application/pdf"
    assert Document.objects.filter(xml_attachment=xml, folio=77).exists()


def test_a_damaged_container_is_kept_with_its_reason(run_mail):
    broken = zip_of(("F77.pdf", PDF))[:-30]  # the end of the central directory is cut off
    junk_msg = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)  # an OLE signature and nothing behind it
    run_mail(mail_with(("roto.zip", ZIP_TYPE, broken), ("roto.msg", "application/vnd.ms-outlook", junk_msg)))
    box = only("01.eml", original_filename="roto.zip")
    assert box.status == Attachment.Status.STORED and "not opened: not a readable ZIP" in box.error
    msg = only("01.eml", original_filename="roto.msg")
    assert msg.status == Attachment.Status.STORED and "not opened: not a readable Outlook message" in msg.error


def test_the_admin_links_a_container_and_its_members(run_mail, admin_client):
    run_mail(mail_with(("factura.zip", ZIP_TYPE, zip_of(("F77.xml", XML), ("F77.pdf", PDF)))))
    box = only("01.eml", original_filename="factura.zip")
    xml = box.members.get(filename="F77.xml")
    page = admin_client.get(reverse("admin:inbox_attachment_change", args=[box.pk])).content.decode()
    assert reverse("admin:inbox_attachment_change", args=[xml.pk]) in page and "F77.pdf</a>" in page
    page = admin_client.get(reverse("admin:inbox_attachment_change", args=[xml.pk])).content.decode()
    assert reverse("admin:inbox_attachment_change", args=[box.pk]) in page


def test_the_total_size_limit_is_one_mail_s_however_many_containers_it_carries(run_mail, monkeypatch):
    """A budget per top-level container let one mail of many small bombs (members under the ratio
    floor) inflate the limit once per ZIP it carried."""
    monkeypatch.setattr(containers, "MAX_TOTAL_BYTES", 2 * len(PDF) + 10)
    first = zip_of(("a.pdf", PDF), ("b.pdf", PDF + b"\n"))
    second = zip_of(("c.pdf", PDF + b"\n\n"), ("d.pdf", PDF + b"\n\n\n"))
    run_mail(mail_with(("uno.zip", ZIP_TYPE, first), ("dos.zip", ZIP_TYPE, second)))
    stored = Attachment.objects.filter(message__source_id="01.eml", container__isnull=False)
    assert stored.filter(status=Attachment.Status.STORED).count() == 2
    assert "2 member(s) not opened" in only("01.eml", original_filename="dos.zip").error


def test_the_member_limit_counts_the_members_of_nested_containers_too(run_mail, monkeypatch):
    """MAX_MEMBERS per container alone let a ZIP of MAX_MEMBERS ZIPs yield MAX_MEMBERS squared rows
    (40,200 from a few megabytes), each a blob and perhaps a render job."""
    monkeypatch.setattr(containers, "MAX_MEMBERS", 3)
    inner = [
        zip_of(*((f"z{outer}-{index}.txt", b"note %d %d" % (outer, index)) for index in range(3))) for outer in range(3)
    ]
    run_mail(mail_with(("nido.zip", ZIP_TYPE, zip_of(*((f"z{outer}.zip", data) for outer, data in enumerate(inner))))))
    members = Attachment.objects.filter(message__source_id="01.eml", container__isnull=False)
    assert members.count() == 3
    assert (
        "1 member(s) not opened: the mail's containers gave up 3 members already"
        in only("01.eml", original_filename="z0.zip").error
    )


@pytest.fixture(scope="module")
def wide_index(tmp_path_factory) -> Path:
    """25 MB of ZIP that is nothing but an index of 300,000 empty members."""
    path = tmp_path_factory.mktemp("wide") / "wide.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(300_000):
            archive.writestr(zipfile.ZipInfo(f"{index}"), b"")
    return path


def test_a_zip_whose_index_is_huge_is_not_read_into_memory(run_mail, wide_index):
    """zipfile makes an object of every index entry before the member limit is looked at: about
    half a kilobyte per 47-byte entry, so a ZIP at the attachment cap took gigabytes of the worker."""
    data = wide_index.read_bytes()
    mail = mail_with(("ancho.zip", ZIP_TYPE, data))
    before = peak_rss_bytes()
    run_mail(mail)
    growth = peak_rss_bytes() - before
    print(f"\npeak RSS growth around a {len(data) // 2**20} MB ZIP index: {growth / 2**20:.1f} MB")
    assert growth < 25 * 1024 * 1024  # 50 MB and more before the index was measured first
    box = only("01.eml", original_filename="ancho.zip")
    assert box.status == Attachment.Status.STORED and "not opened: its index" in box.error
    assert not box.members.exists()


def test_a_winmail_dat_of_countless_attributes_is_not_left_to_the_parser(run_mail):
    """tnefparse copies the rest of the file for every attribute it reads: 3 MB of empty 11-byte
    attributes kept a worker busy half a minute, a file at the attachment cap for days."""
    empty = _attribute(1, 0x00067FFF, b"")
    data = struct.pack("<IH", TNEF_SIGNATURE, 0x0001) + empty * (3 * 1024 * 1024 // len(empty))
    started = time.monotonic()
    run_mail(mail_with(("winmail.dat", "application/ms-tnef", data)))
    assert time.monotonic() - started < 10
    box = only("01.eml", original_filename="winmail.dat")
    assert box.status == Attachment.Status.STORED and "not opened: its parser would copy" in box.error


def test_a_winmail_dat_with_a_huge_version_is_not_left_to_the_parser(run_mail):
    """tnefparse logs a bad attTnefVersion with one Python int per byte of it: 24 bytes of memory each."""
    data = struct.pack("<IH", TNEF_SIGNATURE, 0x0001) + _attribute(1, 0x00089006, bytes(20 * 1024 * 1024))
    mail = mail_with(("winmail.dat", "application/ms-tnef", data))
    before = peak_rss_bytes()
    run_mail(mail)
    assert peak_rss_bytes() - before < 50 * 1024 * 1024
    assert "not opened: its TNEF version is 20971520 bytes" in only("01.eml", original_filename="winmail.dat").error
