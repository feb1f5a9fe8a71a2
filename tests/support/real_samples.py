"""The real-world samples (public test data of the MIT-licensed cl-sii library), kept in the repository
so a clean clone tests with them: tests/data/cl-sii/ (its README and licence travel with them)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "data" / "cl-sii"
#: Two DTE signed by their Chilean issuers: a factura (33) and a nota de crédito (61).
DTE_REAL_DIR = ROOT / "dte-real"
#: The SII purchase register (RCV compras) CSV in its variants.
RCV_DIR = ROOT / "rcv"
