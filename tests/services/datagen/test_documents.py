"""Parsing and chunking real files the test writes: PDF (Chinese), DOCX, HTML, Markdown."""

from __future__ import annotations

import itertools
from pathlib import Path

import docx
import pymupdf
import pytest

from services.datagen.documents.chunk import ChunkingOptions, chunk_document
from services.datagen.documents.parse import parse_document
from tuneloop_core.errors import InvalidRequestError

MARKDOWN = """# 公文製作

## 主旨

主旨應扼要敘述行文目的與期望，不分項，文字緊接段名。

## 說明

說明用於敘述事實、來源或理由。內容較多時可分項條列。

### 分項

分項條列時依序使用一、二、三。
"""


def test_markdown_chunks_keep_their_heading_path(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    chunks = chunk_document(parse_document(path), ChunkingOptions(size=50, overlap=0))
    assert [c.heading_path for c in chunks] == [
        ["公文製作", "主旨"],
        ["公文製作", "說明"],
        ["公文製作", "說明", "分項"],
    ]
    assert chunks[2].text == "### 分項\n\n分項條列時依序使用一、二、三。"
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.document == "guide.md" and c.page is None for c in chunks)
    assert all(len(c.text) <= 50 for c in chunks)


def test_pdf_pages_with_chinese_text(tmp_path: Path) -> None:
    pdf = pymupdf.open()
    for text in ("第一頁：函是機關之間往復的公文。", "第二頁：公告對公眾宣布事項。"):
        page = pdf.new_page()
        page.insert_text((72, 72), text, fontname="china-t", fontsize=12)
    path = tmp_path / "公文.pdf"
    pdf.save(path)
    chunks = chunk_document(parse_document(path), ChunkingOptions(size=200, overlap=0))
    assert [(c.page, c.text.strip()) for c in chunks] == [
        (1, "第一頁：函是機關之間往復的公文。"),
        (2, "第二頁：公告對公眾宣布事項。"),
    ]


def test_docx_and_html_headings_become_paths(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Filing rules", level=1)
    document.add_heading("Deadlines", level=2)
    document.add_paragraph("Urgent letters are answered within one working day.")
    document.save(tmp_path / "rules.docx")
    (tmp_path / "page.html").write_text(
        "<html><script>x=1</script><h1>受文者</h1><p>受文者是收受公文的機關。</p></html>",
        encoding="utf-8",
    )
    options = ChunkingOptions(size=500, overlap=0)
    [from_docx] = chunk_document(parse_document(tmp_path / "rules.docx"), options)
    assert from_docx.heading_path == ["Filing rules", "Deadlines"]
    assert "one working day" in from_docx.text
    [from_html] = chunk_document(parse_document(tmp_path / "page.html"), options)
    assert from_html.heading_path == ["受文者"]
    assert "受文者是收受公文的機關。" in from_html.text and "x=1" not in from_html.text


def test_token_sized_chunks_overlap(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"Sentence number {i} is here." for i in range(200)), encoding="utf-8")
    chunks = chunk_document(
        parse_document(path), ChunkingOptions(size=50, overlap=10, unit="tokens")
    )
    assert len(chunks) > 5
    assert any(a.text[-15:] in b.text for a, b in itertools.pairwise(chunks))


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.md", b"", "empty_document"),
        ("slides.pptx", b"PK\x03\x04", "unsupported_document_type"),
        ("broken.pdf", b"%PDF-1.4 not really", "document_unparseable"),
        ("broken.docx", b"not a zip", "document_unparseable"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "document_unparseable"),
    ],
)
def test_bad_documents_name_themselves(
    tmp_path: Path, name: str, content: bytes, code: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidRequestError) as raised:
        parse_document(path)
    assert raised.value.code == code
    assert name in raised.value.message


def test_a_scanned_pdf_without_text_is_refused(tmp_path: Path) -> None:
    pdf = pymupdf.open()
    pdf.new_page().draw_rect(pymupdf.Rect(10, 10, 100, 100))
    pdf.save(tmp_path / "scan.pdf")
    with pytest.raises(InvalidRequestError, match="no text layer"):
        parse_document(tmp_path / "scan.pdf")
