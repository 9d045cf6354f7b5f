"""Read action clips from class folders: decode, sample a fixed number of frames, resize, cache.

Introduced in lesson 04. Videos are decoded with PyAV (``av``), whose wheels bundle FFmpeg's
libraries, so no system ``ffmpeg`` is needed; animated GIFs are read with Pillow. A folder looks
like this (one sub-folder per class, any mix of formats)::

    actions/
      walk_left/   clip001.mp4  clip002.avi  ...
      walk_right/  clip101.gif  ...

Clips that cannot be used (corrupt, empty, too short, not a video) are skipped and reported in
:attr:`VideoClips.skipped` with the reason, never silently dropped and never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ftlab import settings
from ftlab.cachefile import load_cached
from ftlab.errors import DataError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".gif", ".mov", ".mkv", ".webm", ".m4v")
_CACHE_VERSION = 2  # 2: frames through ftlab.data.images.center_crop_resize


class ClipError(DataError):
    """One clip that cannot be used; the message says why (corrupt, empty, too short)."""


def sample_frame_indices(num_available: int, num_frames: int) -> np.ndarray:
    """Evenly spaced frame indices covering the whole clip (first and last frame included).

    Args:
        num_available: frames the clip has.
        num_frames: frames wanted.

    Returns:
        int array of length ``num_frames`` (indices repeat when the clip is shorter).

    Example:
        >>> sample_frame_indices(16, 4).tolist()
        [0, 5, 10, 15]
    """
    if num_available < 1:
        raise ValueError("a clip needs at least one frame")
    return np.round(np.linspace(0, num_available - 1, num_frames)).astype(int)


def _square_resize(image, size: int) -> np.ndarray:
    """Centre-crop a PIL image to a square and resize it to ``size`` × ``size`` RGB uint8 (the
    resize of every ftlab image, :func:`ftlab.data.images.center_crop_resize`)."""
    from ftlab.data.images import center_crop_resize

    return center_crop_resize(image, size)


def _decode_gif(path: Path) -> list:
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        if image.format != "GIF":
            raise ClipError(f"{path}: not a GIF file (Pillow reads it as {image.format}); "
                            "rename it with its real extension or re-encode it")
        # copy(): the frames of an ImageSequence share one buffer.
        return [frame.convert("RGB").copy() for frame in ImageSequence.Iterator(image)]


def _decode_av(path: Path) -> list:
    """Decoded frames (``av.VideoFrame``; converted to RGB only when sampled)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ClipError(f"{path}: has no video stream (audio only?); remove it from the folder")
        stream = container.streams.video[0]
        frames = []
        try:
            for frame in container.decode(stream):
                frames.append(frame)
        except av.FFmpegError as error:
            # A truncated file decodes up to the damage: keep those frames when there are any.
            if not frames:
                raise ClipError(f"{path}: cannot be decoded ({error}); re-encode or remove it") from error
    return frames


def read_frames(path, num_frames: int = 8, size: int = 112, min_frames: int | None = None) -> np.ndarray:
    """Decode one clip and return ``num_frames`` evenly spaced frames as square RGB images.

    Args:
        path: a ``.mp4``/``.avi``/``.mov``/``.mkv``/``.webm`` file (PyAV) or an animated ``.gif``
            (Pillow).
        num_frames: frames to sample (evenly over the whole clip).
        size: output side in pixels (centre crop to a square, then bilinear resize).
        min_frames: clips with fewer decodable frames are rejected as too short
            (default ``num_frames``: frames are never invented by repetition).

    Returns:
        uint8 array ``(num_frames, size, size, 3)``.

    Raises:
        ClipError: the file is missing, empty, corrupt, not a video, or too short; the message
            names the file and what to do.

    Example:
        >>> clip = ftlab.video.reader.read_frames("walk_left/clip001.mp4", num_frames=8)  # doctest: +SKIP
        >>> clip.shape  # doctest: +SKIP
        (8, 112, 112, 3)
    """
    import av

    path = Path(path)
    min_frames = num_frames if min_frames is None else int(min_frames)
    if not path.is_file():
        raise ClipError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ClipError(f"{path}: empty file (0 bytes); remove it or copy it again")
    suffix = path.suffix.lower()
    if suffix not in VIDEO_EXTENSIONS:
        raise ClipError(f"{path}: not a video file (supported: {' '.join(VIDEO_EXTENSIONS)})")
    try:
        frames = _decode_gif(path) if suffix == ".gif" else _decode_av(path)
    except ClipError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError, SyntaxError) as error:
        # Pillow raises OSError/SyntaxError on damaged GIFs; PyAV raises FFmpegError subclasses.
        raise ClipError(f"{path}: corrupt or unreadable ({type(error).__name__}: {error}); "
                        "re-encode or remove it") from error
    if not frames:
        raise ClipError(f"{path}: contains no frames; remove it")
    if len(frames) < min_frames:
        raise ClipError(f"{path}: too short ({len(frames)} frames, need at least {min_frames}); "
                        "use fewer --frames or remove it")
    indices = sample_frame_indices(len(frames), num_frames)
    images = [frames[i] if suffix == ".gif" else frames[i].to_image() for i in indices]
    return np.stack([_square_resize(image, size) for image in images])


@dataclass
class VideoClips:
    """Clips of a class-folder dataset, all with the same shape.

    Attributes:
        clips: uint8 ``(n, frames, size, size, 3)``.
        labels: int ``(n,)`` indices into ``class_names``.
        class_names: sorted sub-folder names.
        paths: the file of each clip.
        skipped: ``(path, reason)`` for each file that could not be used.
    """

    clips: np.ndarray
    labels: np.ndarray
    class_names: list
    paths: list
    skipped: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> VideoClips:
        """The clips at ``indices`` (the skipped list is kept as it is)."""
        indices = np.asarray(indices, dtype=int)
        return VideoClips(self.clips[indices], self.labels[indices], list(self.class_names),
                          [self.paths[i] for i in indices], list(self.skipped))

    def counts(self) -> dict:
        """Clips per class, e.g. ``{"grow": 12, "shrink": 12}``."""
        return {name: int(np.sum(self.labels == i)) for i, name in enumerate(self.class_names)}

    def __repr__(self) -> str:
        shape = "×".join(str(s) for s in self.clips.shape[1:])
        return (f"VideoClips({len(self)} clips of {shape}, {len(self.class_names)} classes, "
                f"{len(self.skipped)} skipped)")


def list_clip_files(root, skipped: list | None = None) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folders) and ``(file, class index)`` for every visible file.

    A class folder that is a symlink back into the tree (``ln -s . clips/loop``) or a second link to
    another class is left out and reported in ``skipped`` (as ``(path, reason)``), never used as a class.
    """
    from ftlab.data.images import _unique_folders

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass a folder with one sub-folder of clips per class")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    dropped: list = []
    class_dirs = _unique_folders(root, class_dirs, dropped)
    if skipped is not None:
        skipped.extend((str(path), reason) for path, reason in dropped)
    if not class_dirs:
        raise DataError(f"{root}: no class sub-folders; put each class's clips in their own "
                        f"sub-folder, e.g. {root}/walk_left/clip1.mp4")
    files = []
    for index, class_dir in enumerate(class_dirs):
        for file in sorted(class_dir.rglob("*")):
            if file.is_file() and not any(part.startswith(".") for part in file.relative_to(root).parts):
                files.append((file, index))
    return [d.name for d in class_dirs], files


def _files_key(files, num_frames: int, size: int, min_frames: int, class_names) -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"v{_CACHE_VERSION}|{num_frames}|{size}|{min_frames}|{list(class_names)}".encode())
    for file, label in files:
        stat = file.stat()
        digest.update(f"|{file.resolve()}|{label}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _save_cache(path: Path, data: VideoClips) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, clips=data.clips, labels=data.labels,
                     meta=np.array(json.dumps({"class_names": data.class_names, "paths": data.paths,
                                               "skipped": data.skipped})))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_cache(path: Path) -> VideoClips | None:
    def read(archive):
        meta = json.loads(str(archive["meta"]))
        return VideoClips(archive["clips"], archive["labels"], meta["class_names"], meta["paths"],
                          [tuple(s) for s in meta["skipped"]])

    return load_cached(path, read, "video cache file")


def load_video_folder(root, num_frames: int = 8, size: int = 112, min_frames: int | None = None,
                      class_names: list | None = None, cache: bool = True,
                      verbose: bool = False) -> VideoClips:
    """Read every clip of a class-folder dataset; skip (and report) the ones that cannot be used.

    The result is cached in ``FTLAB_CACHE/video/clips/`` under a key made of the files' names,
    sizes and modification times and the reading options, so a second call is instant and an
    edited folder is read again.

    Args:
        root: folder with one sub-folder per class.
        num_frames: frames sampled per clip.
        size: frame side in pixels.
        min_frames: shortest usable clip in frames (default ``num_frames``).
        class_names: expected classes in order (e.g. the training set's for a validation folder);
            default: the sorted sub-folder names.
        cache: read/write the cache.
        verbose: print one line per skipped file.

    Returns:
        :class:`VideoClips`.

    Raises:
        DataError: no class folders, or no usable clip at all.

    Example:
        >>> data = ftlab.video.reader.load_video_folder("actions", num_frames=8)  # doctest: +SKIP
        >>> data.clips.shape, data.skipped[:1]  # doctest: +SKIP
        ((58, 8, 112, 112, 3), [('actions/grow/bad.mp4', 'corrupt or unreadable ...')])
    """
    root = Path(root)
    not_classes: list = []
    found_names, files = list_clip_files(root, skipped=not_classes)
    if class_names is not None:
        unknown = sorted(set(found_names) - set(class_names))
        if unknown:
            raise DataError(f"{root}: class folders {unknown} are not among the expected classes "
                            f"{list(class_names)}; rename or remove them")
        files = [(file, list(class_names).index(found_names[label])) for file, label in files]
        found_names = list(class_names)
    if not files:
        raise DataError(f"{root}: the class sub-folders hold no files; add {'/'.join(VIDEO_EXTENSIONS)} clips")
    data = load_clip_files(files, found_names, num_frames, size, min_frames, cache, verbose, where=str(root))
    if not_classes:
        data.skipped = [*not_classes, *data.skipped]
        _report(not_classes, verbose)
    return data


def load_clip_files(files, class_names, num_frames: int = 8, size: int = 112, min_frames: int | None = None,
                    cache: bool = True, verbose: bool = False, where: str = "the clip list") -> VideoClips:
    """Read a list of ``(path, class index)`` clips (what :func:`load_video_folder` does per folder).

    Example:
        >>> data = load_clip_files([("a.mp4", 0), ("b.gif", 1)], ["wave", "jump"])  # doctest: +SKIP
    """
    files = [(Path(file), int(label)) for file, label in files]
    min_frames = num_frames if min_frames is None else int(min_frames)
    cache_path = None
    if cache:
        key = _files_key(files, num_frames, size, min_frames, class_names)
        cache_path = settings.cache_dir("video", "clips") / f"{key}.npz"
        if cache_path.exists():
            cached = _load_cache(cache_path)
            if cached is not None:
                _report(cached.skipped, verbose)
                return cached
    clips, labels, paths, skipped = [], [], [], []
    for file, label in files:
        try:
            clips.append(read_frames(file, num_frames, size, min_frames))
        except ClipError as error:
            skipped.append((str(file), str(error).removeprefix(f"{file}: ")))
            continue
        labels.append(label)
        paths.append(str(file))
    if not clips:
        detail = f" ({len(skipped)} files skipped, first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise DataError(f"{where}: no usable clip found{detail}; add {'/'.join(VIDEO_EXTENSIONS)} "
                        "files to the class sub-folders")
    data = VideoClips(np.stack(clips), np.asarray(labels, dtype=np.int64), list(class_names), paths, skipped)
    if cache_path is not None:
        _save_cache(cache_path, data)
    _report(skipped, verbose)
    return data


def _report(skipped, verbose: bool) -> None:
    if verbose:
        for path, reason in skipped:
            print(f"skipped {path}: {reason}")
