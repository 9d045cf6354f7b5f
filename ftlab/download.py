"""Checksummed downloads into the ftlab cache, with mirrors and a clear way out when offline.

Introduced in lesson 01 (the optional online data sets); every lesson that reaches for the web
goes through :func:`fetch`.

What :func:`fetch` promises:

* A file sits under its final name only when its sha256 (or, for data sets that publish only
  that, its MD5) is the expected one. Downloads land in
  a temporary folder inside the cache folder, are hashed, then renamed into place with
  ``os.replace``; a wrong hash, a dropped connection or Ctrl-C leaves nothing under the final
  name.
* A cached file with the right hash is returned without touching the network.
* Offline (:func:`ftlab.settings.is_offline`) it answers at once with :class:`OfflineError`
  that says where to put the file by hand; online, when the URL and every mirror fail, one
  :class:`DownloadError` lists the URLs tried, the expected sha256 and the same manual fix.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from ftlab import settings
from ftlab.errors import DownloadError, OfflineError

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar", ".zip")
_MARKER = ".ftlab-sha256"
_STALE_TMP_SECONDS = 24 * 3600


def sha256_file(path, chunk_size: int = 1 << 20) -> str:
    """The sha256 of a file, as 64 lowercase hex digits (reads it in 1 MiB chunks).

    Introduced in lesson 01.

    Example:
        >>> sha256_file("data.zip")  # doctest: +SKIP
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    return _file_digest(path, hashlib.sha256(), chunk_size)


def _file_digest(path, digest, chunk_size: int) -> str:
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    sha256: str | None = None,
    fname: str | None = None,
    cache_subdir: str = "downloads",
    mirrors: Iterable[str] = (),
    extract: bool = False,
    description: str = "",
    timeout: float = 60.0,
    md5: str | None = None,
    offline_hint: str = "",
) -> Path:
    """Download a file once, check its sha256, keep it in the ftlab cache.

    Introduced in lesson 01.

    Args:
        url: where to download from first.
        sha256: the expected sha256 (64 hex digits) of the downloaded file (the archive itself
            when ``extract=True``).
        fname: file name in the cache (default: the last part of the URL's path).
        cache_subdir: folder under the ftlab cache (``ftlab.settings.cache_dir``).
        mirrors: further URLs for the same file, tried in order when ``url`` fails or serves a
            file with another hash.
        extract: unpack a ``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz`` / ``.tar.bz2`` /
            ``.tar.xz`` archive into a folder next to it (the file name without the archive
            suffix) and return that folder. The folder appears in one rename, so it is either
            complete or absent. A ``.ftlab-sha256`` file inside records the archive's hash: the
            folder is reused (even after the archive is deleted) while the hash matches and
            unpacked again when it changes.
        description: a few words for messages (``"Oxford flowers, 330 MB"``).
        timeout: seconds without data from the server before a URL counts as failed.
        md5: instead of ``sha256``, the expected MD5 (32 hex digits), for data sets that publish
            nothing else (DermaMNIST). Give exactly one of the two.
        offline_hint: added to the offline error, e.g. what the lesson uses instead.

    Returns:
        Path to the verified file, or to the extracted folder when ``extract=True``.

    Raises:
        OfflineError: offline and the file is not in the cache (answered at once, no retries).
        DownloadError: every URL failed or served a file with another sha256.
        ValueError: not exactly one of ``sha256`` / ``md5``, a checksum of the wrong length, or no
            file name can be derived.

    Example:
        >>> path = ftlab.download.fetch(  # doctest: +SKIP
        ...     "https://example.org/flowers.tgz", sha256="3b0e…", extract=True)
    """
    checksum = _Checksum.of(sha256, md5)
    urls = [url, *[m for m in mirrors if m and m != url]]
    fname = fname or os.path.basename(urllib.parse.urlsplit(url).path)
    if not fname or os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError(f"fetch(): cannot use {fname!r} as a file name for {url}; pass fname='name.ext'")
    folder = settings.cache_dir(cache_subdir)
    target = folder / fname
    what = f"{description} ({fname})" if description else fname

    expected = checksum.value
    if extract:
        destination = _extract_destination(target)
        if _extracted_from(destination, expected):
            return destination  # the archive itself may even have been deleted to save space
    if not checksum.matches(target):
        _download(urls, checksum, target, what, timeout, offline_hint)
    return _extract(target, expected) if extract else target


class _Checksum:
    """The expected digest of a download: sha256 (the rule), or MD5 where that is all that is published."""

    LENGTHS = {"sha256": 64, "MD5": 32}

    def __init__(self, name: str, value: str):
        self.name, self.value = name, value

    @classmethod
    def of(cls, sha256: str | None, md5: str | None) -> _Checksum:
        if (sha256 is None) == (md5 is None):
            raise ValueError("fetch(): give exactly one checksum, sha256=... (or md5=... if only that is published)")
        name, given = ("sha256", sha256) if sha256 is not None else ("MD5", md5)
        value = str(given).strip().lower()
        if len(value) != cls.LENGTHS[name] or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(f"fetch(): {name} must be {cls.LENGTHS[name]} hex digits, got {given!r}")
        return cls(name, value)

    def of_file(self, path: Path) -> str:
        if self.name == "sha256":
            return sha256_file(path)
        return md5_file(path)

    def matches(self, path: Path) -> bool:
        return path.is_file() and self.of_file(path) == self.value


def md5_file(path, chunk_size: int = 1 << 20) -> str:
    """MD5 of a file as 32 hex digits (only to match checksums that are published as MD5).

    Example:
        >>> md5_file("dermamnist_64.npz")  # doctest: +SKIP
        'b70a2f5635c6199aeaa28c31d7202e1f'
    """
    return _file_digest(path, hashlib.md5(usedforsecurity=False), chunk_size)


def _manual_fix(urls: list[str], target: Path, checksum: _Checksum) -> str:
    return (
        f"download it yourself from {urls[0]} and put it at {target} "
        f"(its {checksum.name} must be {checksum.value})"
    )


def _download(
    urls: list[str], checksum: _Checksum, target: Path, what: str, timeout: float, offline_hint: str = ""
) -> None:
    fix = _manual_fix(urls, target, checksum)
    if settings.is_offline():
        present = f" (a file is there but its {checksum.name} does not match)" if target.exists() else ""
        hint = f"; {offline_hint}" if offline_hint else ""
        raise OfflineError(
            f"{what} is not in the cache and ftlab is offline{present}: {fix}, "
            f"or go online and set FTLAB_OFFLINE=0{hint}"
        )
    _remove_stale_tmp(target.parent)
    failures = []
    for candidate in urls:
        reason = _try_one(candidate, checksum, target, timeout)
        if reason is None:
            return
        failures.append(f"{candidate} ({reason})")
    raise DownloadError(
        f"could not download {what}: tried {'; '.join(failures)}; expected {checksum.name} {checksum.value}; {fix}"
    )


def _try_one(url: str, checksum: _Checksum, target: Path, timeout: float) -> str | None:
    """Download ``url`` into a private temporary folder; rename into place only if the hash fits.

    Returns None on success, else a short reason.
    """
    import keras  # heavy: only when a download really happens

    tmp = Path(tempfile.mkdtemp(prefix=".tmp-fetch-", dir=target.parent))
    previous_timeout = socket.getdefaulttimeout()
    try:
        # urllib's urlretrieve (used by get_file) has no timeout of its own.
        socket.setdefaulttimeout(timeout)
        try:
            downloaded = Path(
                keras.utils.get_file(
                    fname=target.name,
                    origin=url,
                    cache_dir=str(tmp),
                    cache_subdir="",
                    file_hash=None,
                )
            )
        except Exception as error:  # get_file wraps HTTP/URL errors in a bare Exception
            return _short_reason(error)
        got = checksum.of_file(downloaded)
        if got != checksum.value:
            return f"{checksum.name} mismatch: got {got}"
        os.replace(downloaded, target)
        return None
    finally:
        socket.setdefaulttimeout(previous_timeout)
        shutil.rmtree(tmp, ignore_errors=True)


def _short_reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # get_file says "URL fetch failure on <url>: <code or None> -- <reason>"; the URL is already known.
    match = re.match(r"URL fetch failure on \S+: (\S+) -- (.*)", text)
    if match:
        code, reason = match.groups()
        text = f"HTTP {code} {reason}" if code.isdigit() and len(code) == 3 else reason
    return text[:200]


def _remove_stale_tmp(folder: Path) -> None:
    """Remove temporary folders left by runs killed more than a day ago."""
    now = time.time()
    for entry in folder.glob(".tmp-*"):
        try:
            if now - entry.stat().st_mtime > _STALE_TMP_SECONDS:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
        except OSError:
            continue


def _archive_stem(name: str) -> str | None:
    lower = name.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _extract_destination(archive: Path) -> Path:
    stem = _archive_stem(archive.name)
    if stem is None:
        raise DownloadError(
            f"cannot extract {archive}: not a .zip/.tar/.tar.gz/.tgz/.tar.bz2/.tar.xz file name; "
            f"call fetch(..., extract=False) or pass fname with the archive's suffix"
        )
    return archive.parent / stem


def _extracted_from(destination: Path, expected: str) -> bool:
    """Whether ``destination`` is a complete extraction of the archive with sha256 ``expected``."""
    marker = destination / _MARKER
    try:
        return marker.read_text().strip() == expected
    except OSError:
        return False


def _extract(archive: Path, expected: str) -> Path:
    """Unpack ``archive`` next to itself, atomically; reuse a folder unpacked from the same hash."""
    destination = _extract_destination(archive)
    if _extracted_from(destination, expected):
        return destination

    tmp = Path(tempfile.mkdtemp(prefix=".tmp-extract-", dir=archive.parent))
    try:
        try:
            if archive.name.lower().endswith(".zip"):
                _extract_zip(archive, tmp)
            else:
                with tarfile.open(archive) as tar:
                    tar.extractall(tmp, filter="data")  # refuses absolute paths, '..', devices
        except EOFError as error:  # a compressed stream that ends early
            raise DownloadError(
                f"cannot extract {archive}: the archive is truncated (it ends before its last member); "
                f"delete the file and fetch it again"
            ) from error
        except (tarfile.TarError, zipfile.BadZipFile, OSError, ValueError, zlib.error, lzma.LZMAError) as error:
            raise DownloadError(
                f"cannot extract {archive}: {_short_reason(error)}; delete the file and fetch it again"
            ) from error
        (tmp / _MARKER).write_text(expected + "\n")
        if destination.exists():
            # An older extraction (another hash, or from before markers): move it aside first.
            old = Path(tempfile.mkdtemp(prefix=".tmp-old-", dir=archive.parent))
            os.replace(destination, old / "old")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, destination)
        except OSError:
            # Another process finished the same extraction first: use theirs.
            if not _extracted_from(destination, expected):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return destination


def _extract_zip(archive: Path, into: Path) -> None:
    root = into.resolve()
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.namelist():
            resolved = (into / member).resolve()
            if resolved != root and root not in resolved.parents:
                raise ValueError(f"unsafe path in zip: {member!r}")
        zipped.extractall(into)
