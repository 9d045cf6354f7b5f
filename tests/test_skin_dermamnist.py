"""ftlab.skin.dermamnist: MD5-checked download (local HTTP server only), offline error, npz reading."""

import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

from ftlab.errors import DataError, DownloadError, OfflineError
from ftlab.skin import dermamnist


def _fake_npz(path, size=8, n=(30, 6, 10)):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        arrays[f"{split}_images"] = rng.integers(0, 255, (count, size, size, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % 7).reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_published_checksums_are_md5_for_every_size():
    assert sorted(dermamnist.DERMAMNIST_FILES) == [28, 64, 128, 224]
    for size in (28, 64, 128, 224):
        info = dermamnist.file_info(size)
        assert len(info["md5"]) == 32 and info["urls"][0].startswith("https://zenodo.org/records/10519652/")
    urls = dermamnist.file_info(28)["urls"]  # MedMNIST v2 records as mirrors, same MD5
    assert len(urls) == 3 and urls[2] == "https://zenodo.org/records/10519195/files/dermamnist.npz?download=1"
    with pytest.raises(DataError, match=r"\[28, 64, 128, 224\]"):
        dermamnist.file_info(100)


def test_download_checks_md5_and_caches(server, monkeypatch):
    root, url = server
    md5 = _fake_npz(root / "dermamnist_64.npz")
    monkeypatch.setenv("FTLAB_OFFLINE", "0")
    monkeypatch.setattr(dermamnist, "ZENODO_V3", url)
    monkeypatch.setitem(dermamnist.DERMAMNIST_FILES, 64, ("dermamnist_64.npz", md5))
    path = dermamnist.fetch_dermamnist(64)
    assert dermamnist.md5_file(path) == md5
    (root / "dermamnist_64.npz").unlink()  # the second call must not need the server
    assert dermamnist.fetch_dermamnist(64) == path
    assert not list(path.parent.glob(".tmp-*"))
    data = dermamnist.load_dermamnist(64)
    assert data.x_train.shape == (30, 8, 8, 3) and data.y_train.shape == (30,)
    assert "DermaMNIST" in data.source and "real" in data.source


def test_wrong_md5_is_refused_and_nothing_is_kept(server, monkeypatch):
    root, url = server
    _fake_npz(root / "dermamnist_64.npz")
    monkeypatch.setenv("FTLAB_OFFLINE", "0")
    monkeypatch.setattr(dermamnist, "ZENODO_V3", url)
    monkeypatch.setitem(dermamnist.DERMAMNIST_FILES, 64, ("dermamnist_64.npz", "0" * 32))
    with pytest.raises(DownloadError, match="MD5 mismatch") as error:
        dermamnist.fetch_dermamnist(64)
    assert "download it yourself" in str(error.value)
    from ftlab import settings

    assert not (settings.cache_dir("downloads") / "dermamnist_64.npz").exists()


def test_offline_answers_at_once_with_the_manual_fix(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline.*MD5 must be b70a2f56.*synthetic"):
        dermamnist.fetch_dermamnist(64)


def test_read_npz_resizes_and_subsamples(tmp_path):
    path = tmp_path / "d.npz"
    _fake_npz(path, n=(70, 14, 21))
    data = dermamnist.read_dermamnist_npz(path, image_size=16, max_per_split=35)
    assert data.x_train.shape == (35, 16, 16, 3)
    assert np.bincount(data.y_train, minlength=7).tolist() == [5] * 7  # stratified
    assert data.x_val.shape == (14, 16, 16, 3)  # under the cap: untouched


def test_local_copy_with_wrong_md5_or_wrong_content_is_a_clear_error(tmp_path):
    path = tmp_path / "dermamnist_64.npz"
    _fake_npz(path)
    with pytest.raises(DataError, match="is not the published"):
        dermamnist.load_dermamnist(64, path=path)
    with pytest.raises(DataError, match="no such file"):
        dermamnist.load_dermamnist(64, path=tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 8, 8, 3)))
    with pytest.raises(DataError, match="missing arrays"):
        dermamnist.read_dermamnist_npz(bad)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable"):
        dermamnist.read_dermamnist_npz(tmp_path / "junk.npz")
