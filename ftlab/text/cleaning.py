"""Reading and cleaning raw text for lesson 03: decoding by byte-order mark, a binary-file test,
license-aware deduplication.

Light: no TensorFlow. Re-exported by :mod:`ftlab.text.corpora`.

Example:
    >>> decode_text("café".encode("utf-8-sig"))
    ('café', False)
"""

from __future__ import annotations

import hashlib
import re

from ftlab.text.documents import Document

_COPYRIGHT_LINE = re.compile(r"^\s*(?:copyright|\(c\)|©).*$", re.IGNORECASE | re.MULTILINE)


# Byte-order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xef\xbb\xbf", "utf-8"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode_text(data: bytes) -> tuple[str, bool]:
    """Decode a text file's bytes: by its byte-order mark if it has one, else as UTF-8.

    UTF-8, UTF-16 and UTF-32 files with a BOM (what Windows editors write) decode to the same
    text; anything invalid becomes U+FFFD.

    Returns:
        ``(text, replaced)`` where ``replaced`` says whether anything was invalid.

    Example:
        >>> decode_text(b"caf\\xe9")
        ('caf�', True)
        >>> decode_text("café".encode("utf-16"))
        ('café', False)
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(name), False
            except UnicodeDecodeError:
                break  # not really that encoding (odd bytes after the mark): read it as UTF-8 below
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


_CONTROL = {chr(c) for c in range(32)} - set("\t\n\r\f\v") | {"\x7f"}


def looks_like_text(text: str, max_control_share: float = 0.01) -> bool:
    """False when over 1 % of the characters are NUL or other control characters: a binary file,
    or text in an encoding without a BOM (UTF-16 read as UTF-8 puts a NUL between letters).

    Example:
        >>> looks_like_text("Permission is hereby granted"), looks_like_text("P\\x00e\\x00r\\x00")
        (True, False)
    """
    if not text:
        return True
    return sum(ch in _CONTROL for ch in text) <= max_control_share * len(text)


def _dedup_key(text: str) -> str:
    """Identity of a license text up to copyright lines, case and spacing."""
    body = _COPYRIGHT_LINE.sub(" ", text).lower()
    return hashlib.sha256(" ".join(re.findall(r"[a-z0-9]+", body)).encode()).hexdigest()


def deduplicate(documents, key=_dedup_key) -> tuple[list[Document], int]:
    """Drop documents whose ``key`` was seen before (first by name wins).

    Returns:
        ``(kept, number_dropped)``.

    Example:
        >>> docs = [Document("b", "MIT License\\nCopyright 2020 B"), Document("a", "MIT  license\\nCopyright 1999 A")]
        >>> kept, dropped = deduplicate(docs)
        >>> [d.name for d in kept], dropped
        (['a'], 1)
    """
    seen, kept = set(), []
    for document in sorted(documents, key=lambda d: d.name):
        k = key(document.text)
        if k in seen:
            continue
        seen.add(k)
        kept.append(document)
    return kept, len(list(documents)) - len(kept)
