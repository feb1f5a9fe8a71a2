"""Generated supplier mail for the benchmark: distinct invoices, an XML and a PDF each."""

from __future__ import annotations

from pathlib import Path

from pipeline import samples


def write_mails(inbox: Path, *, start: int, count: int) -> None:
    """`count` e-mails with folios start.. start+count-1; distinct content, so nothing is deduplicated."""
    inbox.mkdir(parents=True, exist_ok=True)
    for folio in range(start, start + count):
        data = samples.supplier_email(folio=folio, total=folio * 10, message_id=f"<bench-{folio}@proveedora.cl>")
        (inbox / f"{folio:07d}.eml").write_bytes(data)
