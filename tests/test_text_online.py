"""Lesson 03 online: BillSum and GPT-2 base fetched for real from a server on 127.0.0.1, and the
fallbacks when they cannot be fetched (the lesson then runs on the offline corpus and model)."""

import hashlib
import io
import json
import zipfile

import pytest

from ftlab.errors import DownloadError
from ftlab.text import corpora, generate, model
from tests.test_download import _Server


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "0")


def _billsum_zip(n: int = 3) -> bytes:
    rows = [{"bill_id": f"113_hr{i}", "text": f"SECTION 1. SHORT TITLE.\n\nThis Act may be cited as Act {i}.\n"}
            for i in range(n)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(corpora.BILLSUM_FILE, "\n".join(json.dumps(r) for r in rows) + "\n")
    return buffer.getvalue()


def test_billsum_is_downloaded_checked_and_read(server, online, monkeypatch):
    data = _billsum_zip()
    server.files["billsum.zip"] = data
    monkeypatch.setattr(corpora, "BILLSUM_URLS", (f"{server.url}/missing.zip", f"{server.url}/billsum.zip"))
    monkeypatch.setattr(corpora, "BILLSUM_SHA256", hashlib.sha256(data).hexdigest())
    corpus = corpora.legal_corpus()
    assert corpus.name.startswith("BillSum") and [d.name for d in corpus] == ["billsum:113_hr0", "billsum:113_hr1",
                                                                             "billsum:113_hr2"]
    assert server.requests == ["/missing.zip", "/billsum.zip"]  # the first mirror failed, the second served


@pytest.mark.parametrize("served", ["nothing", "other bytes"])
def test_billsum_unavailable_falls_back_to_the_license_texts(server, online, monkeypatch, capsys, served):
    if served == "other bytes":
        server.files["billsum.zip"] = _billsum_zip()  # not the file whose sha256 is recorded
    monkeypatch.setattr(corpora, "BILLSUM_URLS", (f"{server.url}/billsum.zip",))
    corpus = corpora.legal_corpus()
    assert "BillSum unavailable" in capsys.readouterr().out
    assert len(corpus) > 10 and not corpus.name.startswith("BillSum")
    with pytest.raises(DownloadError):
        corpora.legal_corpus(fallback=False)


def test_gpt2_unavailable_falls_back_to_the_offline_model(server, online, monkeypatch, tmp_path, capsys):
    """KerasHub asks Kaggle for the preset; a Kaggle that answers 404 makes the lesson say so and go on."""
    from kagglesdk import kaggle_env

    # kagglesdk's TEST environment is a Kaggle API on localhost: point it at the local server.
    monkeypatch.setitem(kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.TEST, server.url)
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    lm, name = model.load_lesson_lm(offline="tiny")
    out = capsys.readouterr().out
    assert name == "tiny" and "gpt2_base_en unavailable" in out and "using tiny instead" in out
    assert any("DownloadModelInstanceVersion" in r for r in server.requests), "kagglehub asked the local server"
    assert lm.backbone.vocabulary_size == 256


def test_gpt2_sampling_may_produce_token_id_0():
    """In GPT-2's vocabulary id 0 is "!": only special tokens other than the end are never sampled."""
    import keras_hub

    vocabulary = {"!": 0, "a": 1, "Ġ": 2, "b": 3, "Ġb": 4, "<|endoftext|>": 5}
    gpt2 = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=["Ġ b"])
    assert gpt2.pad_token_id == 0 and generate.forbidden_ids(gpt2) == set()
    assert generate.forbidden_ids(model.ByteLevelTokenizer()) == {model.PAD_ID, model.START_ID}
