"""Held-out splits by document for lesson 03: a stable hash of each text decides its side.

Light: no TensorFlow. Re-exported by :mod:`ftlab.text.corpora`.

Example:
    >>> split_key("Copyright 2024 Ada\\nMIT  License") == split_key("mit license")
    True
"""

from __future__ import annotations

import hashlib
import unicodedata

from ftlab.errors import DataError
from ftlab.text.cleaning import _COPYRIGHT_LINE
from ftlab.text.documents import Corpus


def split_key(text: str) -> str:
    """The part of a text that decides its side in :func:`split_by_document`.

    Copyright lines are dropped (a new year on a license must not move it), then the text is
    NFKC-normalised, case-folded and its whitespace collapsed; every other character counts, so
    texts in any script get distinct keys.

    Example:
        >>> split_key("MIT License\\nCopyright (c) 2024 Ada\\n\\n  Permission is  GRANTED.")
        'mit license permission is granted.'
    """
    body = _COPYRIGHT_LINE.sub(" ", text)
    return " ".join(unicodedata.normalize("NFKC", body).casefold().split())


def split_position(text: str, seed: int = 0) -> float:
    """Where a text falls in [0, 1): sha256 of ``"<seed>:"`` + :func:`split_key`, as a fraction.

    A pure function of the text (and the seed): the same on every machine, Python and run.
    :func:`split_by_document` holds a document out when this is below ``val_fraction``.

    Example:
        >>> split_position("Apache License") == split_position("apache   LICENSE")
        True
    """
    digest = hashlib.sha256(f"{seed}:{split_key(text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_document(corpus: Corpus, val_fraction: float = 0.1, seed: int = 0) -> tuple[Corpus, Corpus]:
    """Hold out whole documents (never lines) for validation.

    A document is held out when :func:`split_position` of its *text* is below ``val_fraction``:
    a stable hash of its normalised content (copyright lines, case, Unicode form and spacing do
    not count), salted with ``seed``. Its side therefore depends on nothing else in the corpus
    and is the same on every machine and run: adding or removing other documents never moves
    it, and texts that differ only in copyright lines, case or spacing land on the same side.
    About ``val_fraction`` of the documents are held out (exactly that share only on average).

    Tiny corpora: with two or more documents, both sides always get at least one. If the hash
    puts every document on one side, the one nearest the threshold crosses over: the smallest
    position goes to validation when none is held out, the largest goes to training when all
    are (ties broken by name). Only in that case does a document's side depend on the others.

    Args:
        corpus: at least two documents.
        val_fraction: expected share of documents held out, strictly between 0 and 1.
        seed: salts the hash; change it to draw another split (the CLI and the lesson use 0).

    Returns:
        ``(train, val)`` corpora, each in the corpus's order.

    Raises:
        DataError: fewer than two documents.

    Example:
        >>> from ftlab.text.documents import Document
        >>> c = Corpus("c", [Document(str(i), f"text number {i}") for i in range(10)])
        >>> train, val = split_by_document(c, 0.2)
        >>> len(train) + len(val), [d.name for d in val]
        (10, ['4'])
        >>> bigger = Corpus("c", c.documents + [Document("new", "another text")])
        >>> [d.name for d in split_by_document(bigger, 0.2)[1] if d.name != "new"]
        ['4']
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (got {val_fraction})")
    if len(corpus) < 2:
        raise DataError(f"{corpus.name}: {len(corpus)} document(s) cannot be split by document; "
                        "add more .txt files or pass a separate validation corpus (--val)")
    positions = [split_position(d.text, seed) for d in corpus.documents]
    held_out = [p < val_fraction for p in positions]
    if all(held_out) or not any(held_out):
        # Tiny-corpus fallback (documented above): move the document nearest the threshold.
        order = sorted(range(len(corpus)), key=lambda i: (positions[i], corpus.documents[i].name, i))
        crossing = order[-1] if all(held_out) else order[0]
        held_out[crossing] = not held_out[crossing]
    train = [d for d, out in zip(corpus.documents, held_out, strict=True) if not out]
    val = [d for d, out in zip(corpus.documents, held_out, strict=True) if out]
    return corpus.subset(train, f"{corpus.name} [train]"), corpus.subset(val, f"{corpus.name} [val]")
