"""ftlab.text.corpora: real offline corpora, dedup, split by document, bad input, BillSum download."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ftlab.errors import DataError, OfflineError
from ftlab.text import cleaning, corpora
from ftlab.text.corpora import Corpus, Document


def test_general_corpus_is_the_python_documentation():
    corpus = corpora.general_corpus()
    assert len(corpus) > 50 and corpus.n_chars > 200_000
    names = {d.name for d in corpus}
    assert "pydoc:for" in names and "pydoc:class" in names


def test_license_corpus_is_real_deduplicated_legal_text():
    corpus = corpora.license_corpus()
    assert len(corpus) >= 20 and corpus.n_chars > 50_000
    joined = " ".join(corpus.texts).lower()
    assert "permission" in joined and "warranty" in joined
    keys = [cleaning._dedup_key(t) for t in corpus.texts]
    assert len(keys) == len(set(keys)), "no two documents may be the same text"
    assert all(len(d) <= 50_000 for d in corpus)
    versioned = [d.name for d in corpus if re.match(r"^[^:]+:[^/]+\.dist-info/", d.name)]
    assert not versioned, "names must not depend on installed versions"


def test_dedup_ignores_copyright_lines_case_and_spacing():
    docs = [Document("b", "MIT License\nCopyright (c) 2020 Bob\n\nPermission is hereby granted."),
            Document("a", "MIT LICENSE\n\nCopyright 1999 Alice\nPermission   is hereby\ngranted."),
            Document("c", "Apache License, Version 2.0")]
    kept, dropped = corpora.deduplicate(docs)
    assert [d.name for d in kept] == ["a", "c"] and dropped == 1


def _corpus(n: int, prefix: str = "doc") -> Corpus:
    documents = [Document(f"{prefix}{i}", f"{prefix} text {i}\nsecond line of {prefix} {i}") for i in range(n)]
    return Corpus("c", documents)


def _sides(corpus: Corpus, val_fraction: float, seed: int = 0) -> dict[str, str]:
    train, val = corpora.split_by_document(corpus, val_fraction, seed)
    sides = {d.name: "train" for d in train}
    sides.update({d.name: "val" for d in val})
    return sides


def test_split_is_disjoint_covers_the_corpus_and_keeps_its_order():
    corpus = _corpus(60)
    train, val = corpora.split_by_document(corpus, 0.2)
    train_names, val_names = [d.name for d in train], [d.name for d in val]
    assert train_names and val_names
    assert not set(train_names) & set(val_names), "no document on both sides"
    assert sorted(train_names + val_names) == sorted(d.name for d in corpus), "union is the input"
    assert len(train) + len(val) == len(corpus)
    order = [d.name for d in corpus]
    assert train_names == [n for n in order if n in set(train_names)]
    assert val_names == [n for n in order if n in set(val_names)]
    assert train.name == "c [train]" and val.name == "c [val]"


def test_adding_documents_never_moves_existing_ones():
    corpus = _corpus(30)
    before = _sides(corpus, 0.2)
    assert set(before.values()) == {"train", "val"}
    bigger = Corpus("c", corpus.documents + _corpus(40, prefix="new").documents)
    after = _sides(bigger, 0.2)
    assert {name: after[name] for name in before} == before
    # Shuffled, or with documents removed, every remaining document still keeps its side.
    shuffled = Corpus("c", list(reversed(bigger.documents))[::2])
    assert all(after[name] == side for name, side in _sides(shuffled, 0.2).items())


def test_side_depends_on_the_normalised_text_and_the_seed_only():
    text = "MIT License\nCopyright (c) 2020 Bob\n\nPermission is hereby granted, free of charge."
    same = "mit license\n\nCOPYRIGHT 1999 Alice\nPermission   is hereby granted, free of charge."
    assert corpora.split_position(text) == corpora.split_position(same)
    assert corpora.split_position(text) != corpora.split_position(text + " Extra clause.")
    assert corpora.split_position(text, seed=1) != corpora.split_position(text, seed=0)
    # A stable hash, not Python's salted hash(): this value is the same on every machine.
    assert corpora.split_position("The Licensee shall pay the fees.") == pytest.approx(0.0080534, abs=1e-7)
    assert corpora.split_key("Ελληνικά  ΚΕΙΜΕΝΑ") == "ελληνικά κειμενα", "non-Latin text counts"
    renamed = Corpus("r", [Document("x", "one text"), Document("y", "another text")] + _corpus(20).documents)
    sides = _sides(renamed, 0.3)
    swapped = Corpus("r", [Document("x", "another text"), Document("y", "one text")] + _corpus(20).documents)
    assert _sides(swapped, 0.3)["x"] == sides["y"], "the text decides, not the name"


def test_seed_salts_the_hash():
    corpus = _corpus(200)
    assert _sides(corpus, 0.2, seed=0) == _sides(corpus, 0.2, seed=0)
    assert _sides(corpus, 0.2, seed=1) != _sides(corpus, 0.2, seed=0)


@pytest.mark.parametrize("val_fraction", [0.1, 0.15, 0.5])
def test_held_out_fraction_is_roughly_honoured(val_fraction):
    n = 200
    held_out = list(_sides(_corpus(n), val_fraction).values()).count("val")
    # Binomial(200, p): a band of about ±4.5 standard deviations.
    band = 4.5 * (n * val_fraction * (1 - val_fraction)) ** 0.5
    assert abs(held_out - n * val_fraction) <= band, (held_out, n * val_fraction)


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("val_fraction", [0.01, 0.1, 0.5, 0.99])
def test_tiny_corpora_get_a_document_on_each_side(n, val_fraction):
    corpus = _corpus(n)
    train, val = corpora.split_by_document(corpus, val_fraction)
    assert len(train) >= 1 and len(val) >= 1 and len(train) + len(val) == n
    assert corpora.split_by_document(corpus, val_fraction)[1].texts == val.texts, "deterministic"


def test_tiny_corpus_fallback_moves_the_document_nearest_the_threshold():
    corpus = _corpus(4)
    positions = {d.name: corpora.split_position(d.text) for d in corpus}
    low = min(positions.values())
    assert low > 0.001, "this corpus needs the fallback at val_fraction=0.001"
    _, val = corpora.split_by_document(corpus, 0.001)
    assert [d.name for d in val] == [min(positions, key=positions.get)]
    high = max(positions.values())
    assert high < 0.999
    train, _ = corpora.split_by_document(corpus, 0.999)
    assert [d.name for d in train] == [max(positions, key=positions.get)]


def test_split_rejects_a_fraction_outside_zero_one():
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="val_fraction"):
            corpora.split_by_document(_corpus(5), bad)


def test_general_split_keeps_the_topics_the_tiny_lm_never_saw():
    train, val = corpora.general_split()
    assert {d.name for d in val} == corpora.TINY_LM_HELD_OUT_TOPICS
    assert not {d.name for d in train} & corpora.TINY_LM_HELD_OUT_TOPICS
    assert len(train) + len(val) == len(corpora.general_corpus())
    other_train, other_val = corpora.general_split(seed=1)
    assert other_val and other_train and {d.name for d in other_val} != corpora.TINY_LM_HELD_OUT_TOPICS


def test_split_never_cuts_a_document_into_lines():
    corpus = corpora.general_corpus()
    train, val = corpora.general_split()
    train_texts = set(train.texts)
    for doc in val:
        assert doc.text not in train_texts
        assert doc.text in corpus.texts


def test_split_needs_two_documents():
    with pytest.raises(DataError, match="--val"):
        corpora.split_by_document(Corpus("one", [Document("a", "text")]))


def test_folder_with_non_utf8_file_is_read_with_replacement_and_reported(tmp_path):
    (tmp_path / "good.txt").write_text("The Licensee shall pay the fees.", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Le concédant accorde une licence.".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("Section 2. Grant of rights.")
    (tmp_path / "notes.md").write_text("not a .txt file")
    corpus = corpora.load_text_corpus(tmp_path)
    assert sorted(d.name for d in corpus) == ["good.txt", "latin1.txt", "sub/more.txt"]
    assert corpus.replaced == ["latin1.txt"] and corpus.skipped == ["empty.txt"]
    latin = next(d for d in corpus if d.name == "latin1.txt")
    assert "\ufffd" in latin.text and latin.text.startswith("Le conc")
    assert "non-UTF-8" in corpus.summary() and "empty" in corpus.summary()


def test_single_file_and_bom(tmp_path):
    path = tmp_path / "contract.txt"
    path.write_bytes(b"\xef\xbb\xbfAGREEMENT")
    corpus = corpora.load_text_corpus(path)
    assert corpus.texts == ["AGREEMENT"] and not corpus.replaced


@pytest.mark.parametrize("make", ["missing", "no_txt", "only_empty"])
def test_empty_corpus_is_a_clear_error(tmp_path, make):
    target = tmp_path / "corpus"
    if make != "missing":
        target.mkdir()
    if make == "no_txt":
        (target / "a.pdf").write_bytes(b"%PDF")
    if make == "only_empty":
        (target / "a.txt").write_text("")
    with pytest.raises(DataError) as info:
        corpora.load_text_corpus(target)
    message = str(info.value)
    assert str(target) in message and "\n" not in message


def test_decode_text():
    assert corpora.decode_text("naïve".encode()) == ("naïve", False)
    text, replaced = corpora.decode_text(b"\xff\xfeabc")
    assert replaced and text.endswith("abc")


def _billsum_zip() -> bytes:
    rows = [{"bill_id": "115_hr2", "text": "SECTION 1. SHORT TITLE.\nThis Act may be cited as the Second Act.",
             "summary": "s", "title": "t"},
            {"bill_id": "115_hr1", "text": "SECTION 1. The Secretary shall report to Congress.",
             "summary": "s", "title": "t"},
            {"bill_id": "115_hr3", "text": "", "summary": "s", "title": "t"}]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(corpora.BILLSUM_FILE, "\n".join(json.dumps(r) for r in rows) + "\n")
        archive.writestr("us_test_data_final_OFFICIAL.jsonl", "")
    return buffer.getvalue()


@pytest.fixture
def billsum_server(monkeypatch):
    body = _billsum_zip()
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            if not self.path.startswith("/billsum"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("FTLAB_OFFLINE", "0")
    # The test computes the checksum of the file it serves; the real one comes from TFDS.
    monkeypatch.setattr(corpora, "BILLSUM_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(corpora, "BILLSUM_URLS", (f"{base}/missing", f"{base}/billsum.zip"))
    yield requests
    httpd.shutdown()
    httpd.server_close()


def test_billsum_download_checksum_extract_and_read(billsum_server):
    corpus = corpora.billsum_corpus(max_documents=None)
    assert [d.name for d in corpus] == ["billsum:115_hr1", "billsum:115_hr2"]
    assert "Secretary" in corpus.texts[0]
    assert billsum_server == ["/missing", "/billsum.zip"], "the first URL 404s, the mirror serves"
    again = corpora.billsum_corpus(max_documents=1)
    assert len(again) == 1 and len(billsum_server) == 2, "the second call reads the cache"
    assert corpora.legal_corpus(offline=False, max_documents=1).texts == again.texts


def test_billsum_offline_fails_fast_with_a_fix(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OfflineError, match="offline"):
        corpora.billsum_corpus()
    assert time.perf_counter() - start < 2
    assert corpora.legal_corpus().name == "installed license texts"
