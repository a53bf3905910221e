"""Any supported document → text pages, with headings kept as Markdown headings so the
chunker can follow them. A document that cannot be read raises InvalidRequestError naming
it; the caller records that per document and goes on with the others."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tuneloop_core.errors import InvalidRequestError

DocumentKind = Literal["pdf", "docx", "markdown", "text", "html"]
KINDS: dict[str, DocumentKind] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
}


@dataclass(frozen=True)
class DocumentPage:
    number: int | None  # 1-based page of a PDF; None for formats without pages
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    name: str
    kind: DocumentKind
    pages: list[DocumentPage]


def _unparseable(name: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"{name}: {why}", param="files", code="document_unparseable")


def _kind(name: str) -> DocumentKind:
    kind = KINDS.get(Path(name).suffix.lower())
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise InvalidRequestError(
            f"{name}: unsupported document type; supported: {known}",
            param="files",
            code="unsupported_document_type",
        )
    return kind


def _text(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise _unparseable(name, "binary content where text was expected (wrong extension?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("big5")  # zh-TW files saved by older Windows tools
        except UnicodeDecodeError:
            raise _unparseable(name, "not UTF-8 or Big5 text") from None


def _pdf(data: bytes, name: str) -> list[DocumentPage]:
    import pymupdf

    try:
        with pymupdf.open(stream=data, filetype="pdf") as pdf:  # type: ignore[no-untyped-call]
            pages = [DocumentPage(i + 1, page.get_text("text")) for i, page in enumerate(pdf)]
    except (RuntimeError, ValueError) as exc:  # pymupdf's FileDataError is a RuntimeError
        raise _unparseable(name, f"not a readable PDF ({exc})") from None
    if not any(p.text.strip() for p in pages):
        raise _unparseable(name, "the PDF has no text layer (a scan?); OCR it first")
    return pages


def _docx(data: bytes, name: str) -> str:
    import io
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise _unparseable(name, f"not a readable DOCX ({exc})") from None
    lines = []
    for paragraph in document.paragraphs:
        style = paragraph.style.name if paragraph.style is not None else ""
        text = paragraph.text.strip()
        if not text:
            continue
        if style.startswith("Heading") and style[-1:].isdigit():
            lines.append(f"{'#' * int(style[-1])} {text}")
        elif style == "Title":
            lines.append(f"# {text}")
        else:
            lines.append(text)
    return "\n\n".join(lines)


def _html(text: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer"]):
        tag.decompose()
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    blocks = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in blocks if line)


def parse_document(path: Path, filename: str | None = None) -> ParsedDocument:
    """Read `path` (named `filename` for the user, whose extension says the type)."""
    name = filename or path.name
    kind = _kind(name)
    data = path.read_bytes()
    if not data:
        raise InvalidRequestError(
            f"{name} is empty (0 bytes)", param="files", code="empty_document"
        )
    if kind == "pdf":
        pages = _pdf(data, name)
    elif kind == "docx":
        pages = [DocumentPage(None, _docx(data, name))]
    elif kind == "html":
        pages = [DocumentPage(None, _html(_text(data, name)))]
    else:
        pages = [DocumentPage(None, _text(data, name))]
    if not any(p.text.strip() for p in pages):
        raise InvalidRequestError(f"{name} has no text", param="files", code="empty_document")
    return ParsedDocument(name, kind, pages)
