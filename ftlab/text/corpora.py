"""Text corpora for lesson 03: general English and legal English, split by document.

Offline and real, on every Python install:

* general English: the standard library's ``pydoc_data`` topics (the language reference that
  ``help()`` shows), one document per topic;
* legal English: the license files of the installed distributions (``importlib.metadata``),
  deduplicated. Software licenses are contracts.

Online: BillSum (US Congressional bills, i.e. statutes), and any folder or file of ``.txt`` a
learner points to. Held-out splits are always by *document*, never by line, so no sentence of
a held-out text is ever seen in training.

No TensorFlow here: this module is light.

Introduced in lesson 03.

Example:
    >>> general = general_corpus()
    >>> train, val = split_by_document(general, val_fraction=0.1)
    >>> len(train) + len(val) == len(general)
    True
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ftlab.errors import DataError

#: File names that hold license texts (LICENSE, LICENCE.txt, COPYING, NOTICE, LICENSE.APACHE …).
LICENSE_FILE_PATTERN = re.compile(r"^(?:.*[._-])?(LICEN[CS]E|COPYING|NOTICE)(?:[._-].*)?$", re.IGNORECASE)
_NOT_TEXT_SUFFIXES = {".py", ".pyc", ".pyi", ".so", ".html", ".json", ".js", ".css", ".png", ".h"}
_DIST_INFO_PREFIX = re.compile(r"^[^/]+\.dist-info/(?:licenses/)?")
_COPYRIGHT_LINE = re.compile(r"^\s*(?:copyright|\(c\)|©).*$", re.IGNORECASE | re.MULTILINE)

# BillSum (Kornilova & Eidelman, 2019; FiscalNote): US Congressional bills with summaries, CC0.
# URL and sha256 as recorded by TensorFlow Datasets (tensorflow_datasets/url_checksums/billsum.txt,
# 67,260,676 bytes). ftlab's authors could NOT download it from their offline build machine, so this
# checksum was not verified here; fetch() refuses any file whose sha256 differs. Google Drive
# answers large files with a confirmation page unless `confirm` is set, hence the variants.
BILLSUM_SHA256 = "5a55dfb231618d63b25cec4773280a2986d38f53d6d4d39b8256b278edf1110c"
BILLSUM_URLS = (
    "https://drive.usercontent.google.com/download?id=1g89WgFHMRbr4QrvA0ngh26PY081Nv3lx&export=download&confirm=t",
    "https://drive.google.com/uc?export=download&id=1g89WgFHMRbr4QrvA0ngh26PY081Nv3lx&confirm=yes",
    "https://drive.google.com/uc?export=download&id=1g89WgFHMRbr4QrvA0ngh26PY081Nv3lx",
)
BILLSUM_FILE = "us_train_data_final_OFFICIAL.jsonl"


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


def general_corpus() -> Corpus:
    """General technical English that every Python has: ``pydoc_data.topics`` (~465k characters).

    One document per topic (``"assignment"``, ``"class"``, ``"for"`` …), sorted by name.

    Example:
        >>> len(general_corpus()) > 50
        True
    """
    from pydoc_data.topics import topics

    docs = [Document(f"pydoc:{name}", text) for name, text in sorted(topics.items()) if text.strip()]
    return Corpus("pydoc_data topics (Python documentation)", docs)


#: The held-out share of the pydoc topics; the tiny LM never trained on these documents.
GENERAL_VAL_FRACTION = 0.1

#: The pydoc topics held out when the bundled tiny LM (ftlab/assets/tiny_lm) was pretrained: 8 of
#: Python 3.11's 79 topics, drawn by ftlab's earlier split rule (seed 0). :func:`general_split`
#: keeps them, so that the bundled model's general perplexity is measured on text it never saw.
#: A document's side depends only on its own name. Re-pretrain the model before changing these.
TINY_LM_HELD_OUT_TOPICS = frozenset(
    {
        "pydoc:async",
        "pydoc:bltin-type-objects",
        "pydoc:formatstrings",
        "pydoc:specialnames",
        "pydoc:subscriptions",
        "pydoc:try",
        "pydoc:typesmapping",
        "pydoc:typesmethods",
    }
)


def general_split(seed: int = 0) -> tuple[Corpus, Corpus]:
    """``(train, val)`` of :func:`general_corpus`, the split ``tools/pretrain_tiny_lm.py`` used.

    The validation topics were held out when the bundled tiny LM was pretrained, so their
    perplexity measures general English the model has not memorised (and, after fine-tuning on
    legal text, how much of it was forgotten).

    Args:
        seed: 0 (the default) gives the bundled model's split, :data:`TINY_LM_HELD_OUT_TOPICS`
            (topics that a newer Python adds go to training). Any other seed draws another split
            with :func:`split_by_document` at :data:`GENERAL_VAL_FRACTION`; the bundled model
            has seen most of those validation topics.
    """
    corpus = general_corpus()
    if seed != 0:
        return split_by_document(corpus, GENERAL_VAL_FRACTION, seed)
    train = [d for d in corpus.documents if d.name not in TINY_LM_HELD_OUT_TOPICS]
    val = [d for d in corpus.documents if d.name in TINY_LM_HELD_OUT_TOPICS]
    if not val:
        raise DataError(
            f"{corpus.name}: none of the tiny LM's held-out topics exists in this Python; "
            "use general_split(seed=1) for a fresh split by document"
        )
    return corpus.subset(train, f"{corpus.name} [train]"), corpus.subset(val, f"{corpus.name} [val]")


def _read_file(path: Path) -> tuple[str, bool]:
    return decode_text(path.read_bytes())


def license_corpus(max_chars_per_document: int = 50_000) -> Corpus:
    """Legal English from the license files of every installed distribution (offline, real).

    Files named like LICENSE / LICENCE / COPYING / NOTICE (any suffix) found through
    ``importlib.metadata``, deduplicated up to copyright lines, case and spacing. A few
    distributions ship huge bundles of third-party notices; each document keeps at most
    ``max_chars_per_document`` characters so that they do not make up most of the corpus.

    The corpus depends on what is installed, so it differs a little between machines.

    Example:
        >>> corpus = license_corpus()
        >>> corpus.summary()  # doctest: +SKIP
        'installed license texts: 160 documents, 1,010,233 characters, 33 duplicates dropped'
    """
    documents, replaced = [], []
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata.get("Name") or "unknown"
        for file in dist.files or ():
            if not LICENSE_FILE_PATTERN.match(file.name) or Path(file.name).suffix.lower() in _NOT_TEXT_SUFFIXES:
                continue
            try:
                path = Path(file.locate())
                if not path.is_file() or path.stat().st_size > 5_000_000:
                    continue
                text, was_replaced = _read_file(path)
            except OSError:
                continue
            if not text.strip():
                continue
            # Names leave out versions ("numpy-2.4.6.dist-info/"), so splits agree across installs.
            relative = _DIST_INFO_PREFIX.sub("", file.as_posix())
            name = f"{dist_name.lower()}:{relative}"
            if was_replaced:
                replaced.append(name)
            documents.append(Document(name, text[:max_chars_per_document]))
    kept, dropped = deduplicate(documents)
    return Corpus("installed license texts", kept, replaced=replaced, duplicates=dropped)


def load_text_corpus(path, pattern: str = "*.txt") -> Corpus:
    """Read a ``.txt`` file, or every ``.txt`` file under a folder (recursively), as documents.

    Files that are not valid UTF-8 are decoded with replacement characters and listed in
    ``corpus.replaced``; empty files are listed in ``corpus.skipped``. Exact duplicate texts are
    dropped.

    Raises:
        DataError: the path does not exist, or holds no non-empty text.

    Example:
        >>> corpus = load_text_corpus("my_contracts/")  # doctest: +SKIP
        >>> print(corpus.summary())  # doctest: +SKIP
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"{root} does not exist: pass a .txt file or a folder of .txt files")
    files = [root] if root.is_file() else sorted(p for p in root.rglob(pattern) if p.is_file())
    if not files:
        raise DataError(f"{root} holds no {pattern} files: put your texts there as UTF-8 .txt files")
    documents, replaced, skipped, not_text = [], [], [], []
    for file in files:
        try:
            text, was_replaced = _read_file(file)
        except OSError as error:
            raise DataError(f"{file} cannot be read ({error.strerror}): check its permissions") from error
        name = str(file.relative_to(root)) if root.is_dir() else file.name
        if not text.strip():
            skipped.append(name)
            continue
        if was_replaced:
            replaced.append(name)
        if not looks_like_text(text):
            not_text.append(name)
        documents.append(Document(name, text))
    kept, dropped = deduplicate(documents, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    if not kept:
        raise DataError(f"{root}: the corpus is empty ({len(skipped)} empty files): add text to the .txt files")
    return Corpus(str(root), kept, replaced=replaced, skipped=skipped, duplicates=dropped, not_text=not_text)


def billsum_corpus(max_documents: int | None = 1000) -> Corpus:
    """BillSum's US Congressional bills (statutes), downloaded once with a sha256 check. Online.

    Args:
        max_documents: keep the first N bills by bill id (None: all 18,949).

    Raises:
        OfflineError: at once when offline and the archive is not cached.
        DownloadError: every URL failed or served another file.

    Example:
        >>> bills = billsum_corpus(200)  # doctest: +SKIP
    """
    from ftlab.download import fetch

    folder = fetch(BILLSUM_URLS[0], BILLSUM_SHA256, fname="billsum_v3.zip", cache_subdir="text",
                   mirrors=BILLSUM_URLS[1:], extract=True, description="BillSum US bills, 67 MB")
    return read_billsum(folder, max_documents)


def read_billsum(folder, max_documents: int | None = None) -> Corpus:
    """Read BillSum's ``us_train_data_final_OFFICIAL.jsonl`` (fields ``bill_id``, ``text`` …)."""
    matches = sorted(Path(folder).rglob(BILLSUM_FILE))
    if not matches:
        raise DataError(f"{folder} has no {BILLSUM_FILE}: delete the folder and download BillSum again")
    documents = []
    with open(matches[0], "rb") as handle:
        for line_number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(decode_text(raw)[0])
            except json.JSONDecodeError as error:
                raise DataError(f"{matches[0]} line {line_number} is not JSON ({error.msg}): "
                                "delete the file and download BillSum again") from error
            if record.get("text", "").strip():
                documents.append(Document(f"billsum:{record.get('bill_id', line_number)}", record["text"]))
    documents.sort(key=lambda d: d.name)
    if max_documents is not None:
        documents = documents[:max_documents]
    return Corpus("BillSum US Congressional bills", documents)


def legal_corpus(offline: bool | None = None, max_documents: int | None = 1000, fallback: bool = True) -> Corpus:
    """The lesson's legal corpus: installed license texts offline, BillSum online.

    Args:
        offline: force a mode (default: ``ftlab.settings.is_offline()``).
        max_documents: online only, how many bills to keep.
        fallback: online, when BillSum cannot be fetched, say so in one line and use the
            installed license texts instead of raising (as lessons 01, 02 and 04 do).
    """
    from ftlab.errors import DownloadError, OfflineError
    from ftlab.settings import is_offline

    if offline is None:
        offline = is_offline()
    if offline:
        return license_corpus()
    try:
        return billsum_corpus(max_documents)
    except (DownloadError, OfflineError, DataError) as error:
        if not fallback:
            raise
        print(f"BillSum unavailable ({str(error).splitlines()[0]}); using the installed license texts instead")
        return license_corpus()


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
