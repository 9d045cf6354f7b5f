"""ftlab.download against a real HTTP server on 127.0.0.1 (no other network)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ftlab import download, settings
from ftlab.errors import DownloadError, OfflineError

PAYLOAD = b"ftlab test payload\n" * 500
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Server:
    """Serves ``files`` (name → bytes); ``/short/<name>`` promises more bytes than it sends."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                truncated = self.path.startswith("/short/")
                name = self.path.removeprefix("/short/").lstrip("/")
                body = server.files.get(name)
                if body is None:
                    self.send_error(404, "not here")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if truncated else body)

            def do_POST(self):  # noqa: N802 (Kaggle's API is POST: answered "not here", recorded)
                server.requests.append(self.path)
                self.send_error(404, "not here")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "0")
    srv = _Server()
    yield srv
    srv.close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.bin"


def _cache_files(subdir="downloads") -> list[Path]:
    """Everything under the cache folder, temporary folders included."""
    return sorted(p for p in settings.cache_dir(subdir).rglob("*"))


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(PAYLOAD)
    assert download.sha256_file(path) == PAYLOAD_SHA


def test_good_file_is_downloaded_cached_and_reused_without_request(server):
    server.files["data.bin"] = PAYLOAD
    path = download.fetch(f"{server.url}/data.bin", PAYLOAD_SHA)
    assert path == settings.cache_dir("downloads") / "data.bin"
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 1
    again = download.fetch(f"{server.url}/data.bin", PAYLOAD_SHA.upper())
    assert again == path
    assert len(server.requests) == 1, "a cached file with the right hash must not be fetched again"
    assert _cache_files() == [path], "no temporary files may stay behind"


def test_fname_and_cache_subdir(server):
    server.files["x"] = PAYLOAD
    path = download.fetch(f"{server.url}/x", PAYLOAD_SHA, fname="renamed.bin", cache_subdir="weights")
    assert path == settings.cache_dir("weights") / "renamed.bin"


def test_wrong_hash_leaves_nothing_in_cache(server):
    server.files["data.bin"] = PAYLOAD
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        download.fetch(f"{server.url}/data.bin", wrong, description="test data")
    message = str(info.value)
    assert "sha256 mismatch" in message and PAYLOAD_SHA in message  # what it got
    assert wrong in message  # what it expected
    assert str(settings.cache_dir("downloads") / "data.bin") in message  # where to put it by hand
    assert "download it yourself" in message
    assert _cache_files() == []


def test_wrong_cached_file_is_replaced(server):
    server.files["data.bin"] = PAYLOAD
    target = settings.cache_dir("downloads") / "data.bin"
    target.write_bytes(b"stale")
    assert download.fetch(f"{server.url}/data.bin", PAYLOAD_SHA).read_bytes() == PAYLOAD
    assert len(server.requests) == 1


def test_interrupted_download_leaves_nothing_under_the_final_name(server):
    server.files["data.bin"] = PAYLOAD
    target = settings.cache_dir("downloads") / "data.bin"
    target.write_bytes(b"old but wrong")
    with pytest.raises(DownloadError):
        download.fetch(f"{server.url}/short/data.bin", PAYLOAD_SHA, fname="data.bin")
    # The old (wrong) file is untouched, never half-overwritten, and no temporary folder is left.
    assert target.read_bytes() == b"old but wrong"
    assert _cache_files() == [target]


def test_server_down_fails_quickly_with_urls_and_fix(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "0")
    url, mirror = _closed_port_url(), _closed_port_url() + "?mirror"
    start = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        download.fetch(url, PAYLOAD_SHA, fname="file.bin", mirrors=[mirror])
    # importing keras on first use takes a few seconds on 2 busy cores; no retries beyond that
    assert time.perf_counter() - start < 30
    message = str(info.value)
    assert url in message and mirror in message and PAYLOAD_SHA in message
    assert str(settings.cache_dir("downloads") / "file.bin") in message
    assert "\n" not in message
    assert _cache_files() == []


def test_mirror_is_used_when_first_url_404s(server):
    server.files["mirror/data.bin"] = PAYLOAD
    path = download.fetch(
        f"{server.url}/missing/data.bin", PAYLOAD_SHA, mirrors=[f"{server.url}/mirror/data.bin"]
    )
    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["/missing/data.bin", "/mirror/data.bin"]


def test_offline_not_cached_raises_fast_with_manual_hint(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OfflineError) as info:
        download.fetch("http://127.0.0.1:9/data.bin", PAYLOAD_SHA)
    assert time.perf_counter() - start < 2.0
    message = str(info.value)
    assert str(settings.cache_dir("downloads") / "data.bin") in message
    assert "http://127.0.0.1:9/data.bin" in message and PAYLOAD_SHA in message


def test_offline_with_cached_file_works(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    (settings.cache_dir("downloads") / "data.bin").write_bytes(PAYLOAD)
    path = download.fetch("http://127.0.0.1:9/data.bin", PAYLOAD_SHA)
    assert path.read_bytes() == PAYLOAD


def test_bad_sha256_argument():
    with pytest.raises(ValueError, match="64 hex digits"):
        download.fetch("http://127.0.0.1:9/data.bin", "abc")
    with pytest.raises(ValueError, match="exactly one checksum"):
        download.fetch("http://127.0.0.1:9/data.bin")
    with pytest.raises(ValueError, match="exactly one checksum"):
        download.fetch("http://127.0.0.1:9/data.bin", PAYLOAD_SHA, md5=hashlib.md5(PAYLOAD).hexdigest())
    with pytest.raises(ValueError, match="MD5 must be 32 hex digits"):
        download.fetch("http://127.0.0.1:9/data.bin", md5=PAYLOAD_SHA)


def test_md5_where_only_md5_is_published(server):
    server.files["data.bin"] = PAYLOAD
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = download.fetch(f"{server.url}/data.bin", md5=md5)
    assert path.read_bytes() == PAYLOAD and download.md5_file(path) == md5
    server.files["other.bin"] = PAYLOAD + b"!"
    with pytest.raises(DownloadError, match="MD5 mismatch.*expected MD5"):
        download.fetch(f"{server.url}/other.bin", md5=md5)
    assert not (settings.cache_dir("downloads") / "other.bin").exists()


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name,make", [("pets.tar.gz", _tar_gz), ("pets.zip", _zip)])
def test_extract(server, name, make):
    archive = make({"pets/cat/a.txt": b"meow", "pets/dog/b.txt": b"woof"})
    server.files[name] = archive
    sha = hashlib.sha256(archive).hexdigest()
    folder = download.fetch(f"{server.url}/{name}", sha, extract=True)
    assert folder == settings.cache_dir("downloads") / "pets"
    assert (folder / "pets" / "cat" / "a.txt").read_bytes() == b"meow"
    assert (folder / "pets" / "dog" / "b.txt").read_bytes() == b"woof"
    again = download.fetch(f"{server.url}/{name}", sha, extract=True)
    assert again == folder and len(server.requests) == 1
    leftovers = [p.name for p in settings.cache_dir("downloads").iterdir()]
    assert sorted(leftovers) == sorted([name, "pets"])
    (settings.cache_dir("downloads") / name).unlink()  # the archive may go once it is unpacked
    assert download.fetch(f"{server.url}/{name}", sha, extract=True) == folder
    assert len(server.requests) == 1


def test_extract_again_when_archive_changes(server):
    first = _tar_gz({"v.txt": b"one"})
    second = _tar_gz({"v.txt": b"two"})
    server.files["v.tgz"] = first
    folder = download.fetch(f"{server.url}/v.tgz", hashlib.sha256(first).hexdigest(), extract=True)
    assert (folder / "v.txt").read_bytes() == b"one"
    server.files["v.tgz"] = second
    folder = download.fetch(f"{server.url}/v.tgz", hashlib.sha256(second).hexdigest(), extract=True)
    assert (folder / "v.txt").read_bytes() == b"two"


def test_extract_refuses_unsafe_archive(server):
    archive = _tar_gz({"../escape.txt": b"bad"})
    server.files["evil.tar.gz"] = archive
    with pytest.raises(DownloadError, match="cannot extract"):
        download.fetch(f"{server.url}/evil.tar.gz", hashlib.sha256(archive).hexdigest(), extract=True)
    assert not (settings.cache_dir("downloads") / "evil").exists()
    assert not (settings.cache_dir() / "escape.txt").exists()


def test_404_reason_is_short_and_named(server):
    with pytest.raises(DownloadError) as info:
        download.fetch(f"{server.url}/nope.bin", PAYLOAD_SHA)
    assert f"tried {server.url}/nope.bin (HTTP 404" in str(info.value)


@pytest.mark.parametrize("name", ["cut.tar.gz", "cut.zip"])
def test_extract_truncated_archive_names_the_file(server, name):
    if name.endswith(".zip"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
            zipped.writestr("big.bin", os.urandom(50_000))
        whole = buffer.getvalue()
    else:
        whole = _tar_gz({"big.bin": os.urandom(50_000)})
    archive = whole[: len(whole) // 2]  # cut in the middle of the compressed stream
    server.files[name] = archive
    with pytest.raises(DownloadError, match=r"cannot extract .*cut\.(tar\.gz|zip): .*fetch it again"):
        download.fetch(f"{server.url}/{name}", hashlib.sha256(archive).hexdigest(), extract=True)
