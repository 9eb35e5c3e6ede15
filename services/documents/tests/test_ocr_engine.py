"""The OCR engine on its own (real Tesseract and pdftoppm, no service): mixed PDFs keep their
text pages, and the limits hold against hostile or oversized scans."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pypdf
import pytest

from kommune_documents.documents.extract import extract
from kommune_documents.events import Reason
from kommune_documents.ocr.engine import Limits, OcrFailed, recognise

from .samples import pdf_bytes
from .scans import made_up_word, png_bytes, scanned_pdf_bytes


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png_header() -> bytes:
    """A PNG that claims 100,000 x 100,000 pixels (a decompression bomb's header)."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_a_mixed_pdf_keeps_its_text_page_and_reads_only_the_scanned_one(tmp_path: Path) -> None:
    word = made_up_word("Anlage")
    writer = pypdf.PdfWriter()
    writer.append(io.BytesIO(pdf_bytes("Anschreiben Bauamt Heidenheim")))
    writer.append(io.BytesIO(scanned_pdf_bytes((f"Anlage {word}",))))
    buffer = io.BytesIO()
    writer.write(buffer)
    path = write(tmp_path, "mixed.pdf", buffer.getvalue())

    extracted = extract(path, "application/pdf")
    assert extracted.needs_ocr
    assert "Anschreiben Bauamt Heidenheim" in extracted.text
    result = recognise(path, "application/pdf", Limits())
    assert result.pages == 1  # only the image-only page went through Tesseract
    assert "Anschreiben Bauamt Heidenheim" in result.text
    assert word in result.text


def test_born_digital_pdfs_and_text_never_need_ocr(tmp_path: Path) -> None:
    assert not extract(write(tmp_path, "a.pdf", pdf_bytes("Satzung")), "application/pdf").needs_ocr
    assert not extract(write(tmp_path, "a.txt", b"Protokoll"), "text/plain").needs_ocr
    assert extract(write(tmp_path, "a.png", png_bytes("Brief")), "image/png").needs_ocr


def test_an_oversized_image_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.png", huge_png_header())
    with pytest.raises(OcrFailed) as failure:
        recognise(path, "image/png", Limits())
    assert failure.value.reason == Reason.TOO_LARGE


def test_a_page_too_large_to_render_is_refused(tmp_path: Path) -> None:
    writer = pypdf.PdfWriter()
    writer.append(io.BytesIO(scanned_pdf_bytes(("Plan",))))
    writer.pages[0].mediabox = pypdf.generic.RectangleObject([0, 0, 14_000, 14_000])
    buffer = io.BytesIO()
    writer.write(buffer)
    path = write(tmp_path, "poster.pdf", buffer.getvalue())
    with pytest.raises(OcrFailed) as failure:
        recognise(path, "application/pdf", Limits())
    assert failure.value.reason == Reason.TOO_LARGE


def test_page_and_time_limits_stop_reading_but_keep_what_was_read(tmp_path: Path) -> None:
    pages = [(f"Seite {made_up_word('Blatt')}",) for _ in range(3)]
    path = write(tmp_path, "long.pdf", scanned_pdf_bytes(*pages))
    by_pages = recognise(path, "application/pdf", Limits(max_pages=2))
    assert by_pages.pages == 2
    assert pages[1][0].split()[1] in by_pages.text
    assert pages[2][0].split()[1] not in by_pages.text
    by_time = recognise(path, "application/pdf", Limits(total_timeout=0.001))
    assert by_time.pages == 1  # the first page is always read, then the budget is spent
    assert pages[0][0].split()[1] in by_time.text


def test_missing_content_and_unknown_types_fail_cleanly(tmp_path: Path) -> None:
    with pytest.raises(OcrFailed) as failure:
        recognise(tmp_path / "gone.png", "image/png", Limits())
    assert failure.value.reason == Reason.MISSING_CONTENT
    with pytest.raises(OcrFailed) as failure:
        recognise(write(tmp_path, "a.docx", b"PK"), "application/zip", Limits())
    assert failure.value.reason == Reason.UNREADABLE
    with pytest.raises(OcrFailed) as failure:
        recognise(write(tmp_path, "a.pdf", b"%PDF-1.4\n garbage"), "application/pdf", Limits())
    assert failure.value.reason == Reason.UNREADABLE
