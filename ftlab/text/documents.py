"""The containers of lesson 03's corpora: :class:`Document` (one named text) and :class:`Corpus`.

Light: no TensorFlow. Re-exported by :mod:`ftlab.text.corpora`, which builds them.

Example:
    >>> Corpus("demo", [Document("a", "abc")]).n_chars
    3
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Document:
    """One text with a stable name (file path, topic or distribution)."""

    name: str
    text: str

    def __len__(self) -> int:
        return len(self.text)


@dataclass
class Corpus:
    """A list of documents plus what happened while reading them.

    Attributes:
        name: where it came from (``"pydoc_data topics"``, a folder path …).
        documents: the texts.
        replaced: files that were not valid UTF-8 and were decoded with U+FFFD replacements.
        skipped: files left out because they were empty.
        not_text: files that do not look like text (see :func:`looks_like_text`), kept but flagged.
        duplicates: texts dropped because an identical one (up to copyright lines, case and
            spacing) was already in the corpus.
    """

    name: str
    documents: list[Document]
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    duplicates: int = 0
    not_text: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.documents)

    def __iter__(self):
        return iter(self.documents)

    @property
    def n_chars(self) -> int:
        return sum(len(d.text) for d in self.documents)

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.documents]

    def subset(self, documents, name: str | None = None) -> Corpus:
        """A corpus with some of these documents (reading notes are kept)."""
        return Corpus(name or self.name, list(documents), self.replaced, self.skipped, self.duplicates, self.not_text)

    def summary(self) -> str:
        """One line: documents, characters, and any decoding/dedup notes.

        Example:
            >>> Corpus("demo", [Document("a", "abc")]).summary()
            'demo: 1 documents, 3 characters'
        """
        parts = [f"{self.name}: {len(self)} documents, {self.n_chars:,} characters"]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicates dropped")
        if self.replaced:
            parts.append(f"{len(self.replaced)} non-UTF-8 files decoded with replacement characters")
        if self.skipped:
            parts.append(f"{len(self.skipped)} empty files skipped")
        return ", ".join(parts)
