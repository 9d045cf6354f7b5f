"""The online sources, served from 127.0.0.1 (no real network): layout, mirrors, manual fix."""

import hashlib
import io
import tarfile
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from ftlab.data import catsdogs
from ftlab.errors import OfflineError


def _jpeg(colour, seed) -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(seed).integers(0, 40, (48, 64, 3))  # distinct files (duplicates are dropped)
    Image.fromarray(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def _tar_gz(files: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture()
def server(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "0")
    routes: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = routes.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
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
    yield routes, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _pets_archive():
    files = {}
    for i in range(6):
        files[f"images/Abyssinian_{i}.jpg"] = _jpeg((200, 120, 40), i)  # cat breeds are capitalised
        files[f"images/beagle_{i}.jpg"] = _jpeg((40, 90, 200), 100 + i)
    files["images/Abyssinian_99.mat"] = b"not an image"
    return _tar_gz(files)


def test_cats_vs_dogs_from_the_mirror_when_the_first_url_is_gone(server, monkeypatch):
    routes, base = server
    archive = _pets_archive()
    routes["/mirror/images.tar.gz"] = archive
    source = replace(catsdogs.PETS, url=f"{base}/moved/images.tar.gz", mirrors=(f"{base}/mirror/images.tar.gz",),
                     sha256=hashlib.sha256(archive).hexdigest())
    monkeypatch.setattr(catsdogs, "PETS", source)
    data = catsdogs.cats_vs_dogs(train_per_class=4, val_per_class=2, image_size=32, verbose=False)
    assert data.class_names == ["cat", "dog"]
    assert data.x_train.shape == (8, 32, 32, 3) and len(data.x_val) == 4
    # species follow the file names: the cat photos are orange, the dog photos blue
    cats = data.x_train[data.y_train == 0].astype(float)
    dogs = data.x_train[data.y_train == 1].astype(float)
    assert cats[..., 0].mean() > cats[..., 2].mean() and dogs[..., 2].mean() > dogs[..., 0].mean()
    assert data.source.startswith("online: Oxford-IIIT Pet")
    # a second call reuses the verified archive and the species view (no server needed)
    routes.clear()
    again = catsdogs.cats_vs_dogs(train_per_class=4, val_per_class=2, image_size=32, verbose=False)
    assert np.array_equal(again.x_train, data.x_train)


def test_flowers_layout(server, monkeypatch):
    routes, base = server
    files = {f"flower_photos/{kind}/{i}.jpg": _jpeg(colour, 10 * sum(colour) + i) for kind, colour in
             (("daisy", (250, 250, 250)), ("roses", (200, 20, 40)), ("tulips", (240, 200, 20))) for i in range(4)}
    files["flower_photos/LICENSE.txt"] = b"CC BY 2.0"
    archive = _tar_gz(files)
    routes["/flower_photos.tgz"] = archive
    source = replace(catsdogs.FLOWERS, url=f"{base}/flower_photos.tgz", mirrors=(),
                     sha256=hashlib.sha256(archive).hexdigest())
    monkeypatch.setattr(catsdogs, "FLOWERS", source)
    data = catsdogs.flowers(train_per_class=3, val_per_class=1, image_size=32, verbose=False)
    assert data.class_names == ["daisy", "roses", "tulips"]
    assert len(data.x_train) == 9 and len(data.x_val) == 3


def test_offline_error_says_how_to_download_by_hand(monkeypatch):
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        catsdogs.cats_vs_dogs()
    message = str(info.value)
    assert "download images.tar.gz by hand" in message
    assert catsdogs.PETS.sha256 in message and "thor.robots.ox.ac.uk" in message and "robots.ox.ac.uk/~vgg" in message


def test_sources_have_checksums_and_mirrors():
    for source in catsdogs.SOURCES.values():
        assert len(source.sha256) == 64 and source.mirrors and source.license
        assert source.url.startswith("https://")
    assert "https://thor.robots.ox.ac.uk/~vgg/data/pets/images.tar.gz" in catsdogs.PETS.mirrors  # tfds' mirror
