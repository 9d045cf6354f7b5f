"""ftlab.video.ucf101: the online subset through fetch (checksum, offline error), tested on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from ftlab.errors import DataError, DownloadError, OfflineError
from ftlab.video import ucf101
from ftlab.video.synthetic import make_clip, write_clip


def subset_tar(tmp_path) -> bytes:
    """A miniature UCF101_subset archive: an uncompressed tar, as the real one is."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for split, count in (("train", 3), ("val", 1), ("test", 1)):
            for name, action in (("ApplyEyeMakeup", "grow"), ("Biking", "move_right"), ("Bowling", "shrink")):
                for i in range(count):
                    path = write_clip(tmp_path / f"v_{name}_g0{i}_c01.avi", make_clip(action, rng, 8, 32))
                    tar.add(path, arcname=f"UCF101_subset/{split}/{name}/{path.name}")
    return buffer.getvalue()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "0")
    files = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield files, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_extract_and_load_a_few_classes(server, tmp_path):
    files, url = server
    files["UCF101_subset.tar.gz"] = subset_tar(tmp_path)
    digest = hashlib.sha256(files["UCF101_subset.tar.gz"]).hexdigest()
    root = ucf101.download_ucf101_subset(f"{url}/UCF101_subset.tar.gz", digest, mirrors=())
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["test", "train", "val"]
    train = ucf101.load_ucf101_split(root, "train", num_frames=4, size=32, classes=["Bowling", "Biking"],
                                     max_per_class=2)
    assert train.class_names == ["Bowling", "Biking"] and train.counts() == {"Bowling": 2, "Biking": 2}
    assert train.clips.shape == (4, 4, 32, 32, 3)
    val = ucf101.load_ucf101_split(root, "val", num_frames=4, size=32)
    assert val.class_names == ["ApplyEyeMakeup", "Biking", "Bowling"] and len(val) == 3
    with pytest.raises(DataError, match="Kayaking"):
        ucf101.load_ucf101_split(root, "train", classes=["Kayaking"])


def test_wrong_checksum_is_a_download_error(server, tmp_path):
    files, url = server
    files["UCF101_subset.tar.gz"] = b"not the archive"
    with pytest.raises(DownloadError):
        ucf101.download_ucf101_subset(f"{url}/UCF101_subset.tar.gz", "0" * 64, mirrors=())


def test_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(OfflineError):
        ucf101.download_ucf101_subset()
    assert time.perf_counter() - started < 2


def test_pinned_source_is_a_fixed_revision():
    assert ucf101.REVISION in ucf101.URL and len(ucf101.SHA256) == 64 and ucf101.SIZE_BYTES == 171_386_880
