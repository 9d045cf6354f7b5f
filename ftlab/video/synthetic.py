"""Offline action clips: a stick figure that moves, turns or changes size, written as real videos.

Introduced in lesson 04. The six classes come in mirrored pairs, and every clip is built around
its *middle* frame: position, angle and size at the middle are drawn from the same distribution
for every class, and the motion runs symmetrically before and after it. So:

* one frame cannot tell the classes apart (a single-frame model sits near chance, 1/6);
* even the *set* of frames cannot: ``move_left`` played backwards is ``move_right``, so any model
  that ignores frame order (averaging per-frame predictions) is blind too;
* only the direction of change over time separates them, which is what a video model must learn.

Backgrounds (gradients, blobs, stripes), colours, speeds, clip lengths, camera shake and noise vary
from clip to clip. Clips are written as ``.mp4`` (H.264), ``.avi`` (MPEG-4 part 2) and animated
``.gif`` files, so the same reader that reads real data reads these.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ftlab import settings

ACTIONS = ("move_left", "move_right", "turn_clockwise", "turn_anticlockwise", "grow", "shrink")
_VERSION = 2
_SUPERSAMPLE = 2


def _random_colour(rng, low=0, high=256) -> np.ndarray:
    return rng.integers(low, high, size=3).astype(np.float32)


def _background(rng, size: int) -> np.ndarray:
    """A static random scene: a two-colour gradient plus blobs or stripes (float32 HWC 0..255)."""
    from PIL import Image, ImageDraw, ImageFilter

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    a, b = _random_colour(rng), _random_colour(rng)
    base = a + ramp[..., None] * (b - a)
    image = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.5:
        for _ in range(rng.integers(3, 8)):
            cx, cy = rng.uniform(0, size, 2)
            rx, ry = rng.uniform(0.05, 0.25, 2) * size
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=tuple(int(v) for v in _random_colour(rng)))
    else:
        period = rng.uniform(0.08, 0.3) * size
        colour = tuple(int(v) for v in _random_colour(rng))
        vertical = rng.random() < 0.5
        for start in np.arange(rng.uniform(0, period), size, period):
            box = (start, 0, start + period / 2, size) if vertical else (0, start, size, start + period / 2)
            draw.rectangle(box, fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0, 2.5) * size / 112))
    return np.asarray(image, dtype=np.float32)


def _figure_segments(phase: float):
    """Stick-figure lines and head in figure units (height 1, centred, y up)."""
    swing = math.sin(phase)
    shoulder, hip = (0.0, 0.17), (0.0, -0.1)
    arm, leg = 0.28, 0.34
    a_left, a_right = 0.7 + 0.45 * swing, 0.7 - 0.45 * swing
    l_left, l_right = 0.3 + 0.25 * swing, 0.3 - 0.25 * swing
    segments = [
        ((0.0, 0.27), hip),
        (shoulder, (shoulder[0] - arm * math.sin(a_left), shoulder[1] - arm * math.cos(a_left))),
        (shoulder, (shoulder[0] + arm * math.sin(a_right), shoulder[1] - arm * math.cos(a_right))),
        (hip, (hip[0] - leg * math.sin(l_left), hip[1] - leg * math.cos(l_left))),
        (hip, (hip[0] + leg * math.sin(l_right), hip[1] - leg * math.cos(l_right))),
    ]
    head = ((0.0, 0.37), 0.1)
    return segments, head


def _draw_figure(canvas, x, y, angle, height, phase, colour, width):
    """Draw the figure on a PIL ImageDraw; ``angle`` in radians, anticlockwise on screen."""
    segments, (head_centre, head_radius) = _figure_segments(phase)
    cos, sin = math.cos(angle), math.sin(angle)

    def to_screen(point):
        px, py = point
        vx, vy = px * cos - py * sin, px * sin + py * cos
        return (x + height * vx, y - height * vy)  # screen y points down

    for start, end in segments:
        canvas.line([to_screen(start), to_screen(end)], fill=colour, width=width)
    hx, hy = to_screen(head_centre)
    r = head_radius * height
    canvas.ellipse((hx - r, hy - r, hx + r, hy + r), fill=colour)


def figure_path(action: str, mid_state, amounts, num_frames: int) -> np.ndarray:
    """The figure's ``(x, y, angle, height)`` in each frame: the middle state moved by the action.

    Time ``u`` runs from -0.5 (first frame) to +0.5 (last), so the middle frame holds
    ``mid_state`` whatever the action, and mirrored actions trace the same states in reverse
    order. ``amounts`` = ``(travel px, turn radians, growth ratio)`` over the whole clip.

    Example:
        >>> path = figure_path("move_left", (50.0, 50.0, 0.0, 40.0), (20.0, 1.0, 2.0), 5)
        >>> path[:, 0].tolist()
        [60.0, 55.0, 50.0, 45.0, 40.0]
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; choose one of {ACTIONS}")
    travel, turn, growth = amounts
    u = np.linspace(-0.5, 0.5, num_frames) if num_frames > 1 else np.zeros(1)
    path = np.tile(np.asarray(mid_state, dtype=np.float64), (len(u), 1))
    sign = -1.0 if action in ("move_left", "turn_clockwise", "shrink") else 1.0
    if action.startswith("move"):
        path[:, 0] += sign * travel * u
    elif action.startswith("turn"):
        path[:, 2] += sign * turn * u  # anticlockwise on screen is a growing angle
    else:
        path[:, 3] *= growth ** (sign * u)
    return path


def make_clip(action: str, rng: np.random.Generator, num_frames: int = 16, size: int = 112) -> np.ndarray:
    """Render one clip of ``action`` (one of :data:`ACTIONS`).

    Args:
        action: class name.
        rng: a NumPy random generator (the clip is a pure function of its state).
        num_frames: frames to render.
        size: frame side in pixels.

    Returns:
        uint8 array ``(num_frames, size, size, 3)``.

    Example:
        >>> clip = make_clip("grow", np.random.default_rng(0), num_frames=12, size=64)
        >>> clip.shape, clip.dtype
        ((12, 64, 64, 3), dtype('uint8'))
    """
    from PIL import Image, ImageDraw

    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; choose one of {ACTIONS}")
    big = size * _SUPERSAMPLE
    background = _background(rng, big)
    # The middle frame's state: same distribution for every class.
    x_mid, y_mid = rng.uniform(0.4, 0.6, 2) * big
    mid_state = (x_mid, y_mid, rng.uniform(0, 2 * math.pi), rng.uniform(0.4, 0.55) * big)
    amounts = (rng.uniform(0.35, 0.55) * big,          # move: pixels over the whole clip
               math.radians(rng.uniform(100, 200)),    # turn: radians over the whole clip
               rng.uniform(1.8, 2.6))                  # grow: size ratio last/first frame
    phase0, step = rng.uniform(0, 2 * math.pi), rng.uniform(0.4, 1.0) * rng.choice([-1, 1])
    luminance = background.mean(axis=(0, 1)) @ np.array([0.299, 0.587, 0.114])
    colour = _random_colour(rng, 0, 90) if luminance > 128 else _random_colour(rng, 170, 256)
    colour = tuple(int(v) for v in colour)
    noise_sigma = rng.uniform(2, 10)
    shake = rng.uniform(0, 1.5) * _SUPERSAMPLE
    frames = []
    for i, (x, y, angle, height) in enumerate(figure_path(action, mid_state, amounts, num_frames)):
        x, y = x + rng.normal(0, shake), y + rng.normal(0, shake)
        image = Image.fromarray(background.astype(np.uint8))
        _draw_figure(ImageDraw.Draw(image), x, y, angle, height, phase0 + step * i * 16 / max(num_frames, 1),
                     colour, width=max(2, int(0.09 * height)))
        image = image.resize((size, size), Image.BILINEAR)
        frame = np.asarray(image, dtype=np.float32) * rng.uniform(0.93, 1.07)
        frame += rng.normal(0, noise_sigma, frame.shape)
        frames.append(frame.clip(0, 255).astype(np.uint8))
    return np.stack(frames)


def write_clip(path, frames: np.ndarray, fps: int = 12) -> Path:
    """Write frames ``(t, h, w, 3)`` uint8 as a video file chosen by the extension.

    ``.mp4`` → H.264 (``libx264``) and ``.avi`` → MPEG-4 part 2 (``mpeg4``), both with PyAV's
    bundled FFmpeg; ``.gif`` → Pillow. Height and width must be even for the video codecs.
    The file is written to a temporary name and renamed into place.

    Example:
        >>> write_clip("/tmp/clip.mp4", make_clip("grow", np.random.default_rng(0)))  # doctest: +SKIP
    """
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    frames = np.asarray(frames, dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o644)
    try:
        if suffix == ".gif":
            images = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        elif suffix in (".mp4", ".avi"):
            import av

            codec, fmt = ("libx264", "mp4") if suffix == ".mp4" else ("mpeg4", "avi")
            with av.open(tmp, mode="w", format=fmt) as container:
                stream = container.add_stream(codec, rate=fps)
                stream.height, stream.width = frames.shape[1:3]
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    stream.options = {"crf": "18", "preset": "veryfast"}
                else:
                    stream.bit_rate = 2_000_000
                for frame in frames:
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                container.mux(stream.encode())
        else:
            raise ValueError(f"{path}: cannot write {suffix!r}; use .mp4, .avi or .gif")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _format_for(index: int) -> str:
    """7 in 10 clips are .mp4, 2 are .avi, 1 is .gif."""
    return ".gif" if index % 10 == 9 else ".avi" if index % 10 in (3, 6) else ".mp4"


def write_action_dataset(root, clips_per_class: int, seed: int = 0, size: int = 112,
                         frame_range: tuple[int, int] = (12, 20), actions=ACTIONS) -> Path:
    """Write ``clips_per_class`` clips of each action into ``root/<action>/``.

    Every clip is a pure function of ``(seed, action, index)``: the same call writes the same
    frames. Clip lengths vary in ``frame_range`` (inclusive), so sampling is exercised too.

    Returns:
        ``root``.
    """
    root = Path(root)
    for class_index, action in enumerate(actions):
        folder = root / action
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(clips_per_class):
            rng = np.random.default_rng([seed, class_index, i])
            length = int(rng.integers(frame_range[0], frame_range[1] + 1))
            write_clip(folder / f"{action}_{i:03d}{_format_for(i)}", make_clip(action, rng, length, size))
    return root


def synthetic_actions(split: str = "train", clips_per_class: int | None = None, seed: int = 0,
                      size: int = 112, actions=ACTIONS) -> Path:
    """The offline action dataset for lesson 04: a cached folder of real video files.

    Generated once per ``(split, clips_per_class, seed, size)`` into
    ``FTLAB_CACHE/video/synthetic/`` (written to a temporary folder and renamed into place, so an
    interrupted run leaves nothing half-written). ``train`` and ``val`` use different seeds.

    Args:
        split: ``"train"`` or ``"val"``.
        clips_per_class: default 10 train / 6 val in quick mode, 40 / 16 otherwise.
        seed: base seed.
        size: frame side in pixels.
        actions: the classes (default all six of :data:`ACTIONS`).

    Returns:
        the folder, with one sub-folder per action.

    Example:
        >>> train_dir = ftlab.video.synthetic.synthetic_actions("train")  # doctest: +SKIP
        >>> sorted(p.name for p in train_dir.iterdir())[:2]  # doctest: +SKIP
        ['grow', 'move_left']
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    if clips_per_class is None:
        clips_per_class = settings.quick_or(10, 40) if split == "train" else settings.quick_or(6, 16)
    split_seed = seed * 2 + (0 if split == "train" else 1)
    parent = settings.cache_dir("video", "synthetic")
    unknown = sorted(set(actions) - set(ACTIONS))
    if unknown:
        raise ValueError(f"unknown action(s) {unknown}; choose among {ACTIONS}")
    which = "" if tuple(actions) == ACTIONS else "-" + "+".join(actions)
    final = parent / f"v{_VERSION}-{split}-{clips_per_class}-s{seed}-{size}px{which}"
    if final.is_dir():
        return final
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{final.name}-"))
    try:
        write_action_dataset(tmp, clips_per_class, seed=split_seed, size=size, actions=tuple(actions))
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished first: keep theirs
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
