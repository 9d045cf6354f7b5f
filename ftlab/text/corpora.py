"""Text corpora for lesson 03: general English and legal English, split by document.

Offline and real, on every Python install:

* general English: the standard library's ``pydoc_data`` topics (the language reference that
  ``help()`` shows), one document per topic;
* legal English: the license files of the installed distributions (``importlib.metadata``),
  deduplicated. Software licenses are contracts.

Online: BillSum (US Congressional bills, i.e. statutes), and any folder or file of ``.txt`` a
learner points to. Held-out splits are always by *document*, never by line, so no sentence of
a held-out text is ever seen in training.

No TensorFlow here: this module is light. The containers (:mod:`ftlab.text.documents`),
decoding and deduplication (:mod:`ftlab.text.cleaning`) and the splits by document
(:mod:`ftlab.text.splits`) live in their own modules and are re-exported here.

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
from pathlib import Path

from ftlab.errors import DataError
from ftlab.text.cleaning import decode_text, deduplicate, looks_like_text
from ftlab.text.documents import Corpus, Document
from ftlab.text.splits import split_by_document, split_key, split_position

__all__ = [
    "BILLSUM_FILE", "BILLSUM_SHA256", "BILLSUM_URLS", "GENERAL_VAL_FRACTION", "LICENSE_FILE_PATTERN",
    "TINY_LM_HELD_OUT_TOPICS", "Corpus", "Document", "billsum_corpus", "decode_text", "deduplicate",
    "general_corpus", "general_split", "legal_corpus", "license_corpus", "load_text_corpus",
    "looks_like_text", "read_billsum", "split_by_document", "split_key", "split_position",
]

#: File names that hold license texts (LICENSE, LICENCE.txt, COPYING, NOTICE, LICENSE.APACHE …).
LICENSE_FILE_PATTERN = re.compile(r"^(?:.*[._-])?(LICEN[CS]E|COPYING|NOTICE)(?:[._-].*)?$", re.IGNORECASE)
_NOT_TEXT_SUFFIXES = {".py", ".pyc", ".pyi", ".so", ".html", ".json", ".js", ".css", ".png", ".h"}
_DIST_INFO_PREFIX = re.compile(r"^[^/]+\.dist-info/(?:licenses/)?")

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
