"""ftlab.video.reader: every format decodes, every broken file is skipped with a reason, caches work."""

from __future__ import annotations

import numpy as np
import pytest

from ftlab.errors import DataError
from ftlab.video import reader
from ftlab.video.synthetic import write_clip


def ramp_clip(num_frames: int = 12, size: int = 32) -> np.ndarray:
    """Frame i is a flat grey of brightness 20 * i: the sampled frames' order can be read back."""
    levels = 20 * np.arange(num_frames, dtype=np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, size, size, 3)).copy()


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".gif"])
def test_each_format_is_read_and_sampled_in_order(tmp_path, suffix):
    path = write_clip(tmp_path / f"clip{suffix}", ramp_clip(12, 48))
    frames = reader.read_frames(path, num_frames=4, size=32)
    assert frames.shape == (4, 32, 32, 3) and frames.dtype == np.uint8
    brightness = frames.mean(axis=(1, 2, 3))
    expected = 20 * reader.sample_frame_indices(12, 4)  # frames 0, 4, 7, 11
    np.testing.assert_allclose(brightness, expected, atol=6)  # lossy codecs move levels a little


def test_non_square_frames_are_centre_cropped(tmp_path):
    frames = np.zeros((8, 32, 64, 3), np.uint8)
    frames[:, :, 16:48] = 255  # a white square in the middle, black bands left and right
    out = reader.read_frames(write_clip(tmp_path / "wide.mp4", frames), num_frames=2, size=16)
    assert out.shape == (2, 16, 16, 3)
    assert out.mean() > 230, "the crop keeps the centre square only"


def test_sample_frame_indices_covers_the_clip():
    assert reader.sample_frame_indices(16, 4).tolist() == [0, 5, 10, 15]
    assert reader.sample_frame_indices(3, 5).tolist() == [0, 0, 1, 2, 2]
    with pytest.raises(ValueError):
        reader.sample_frame_indices(0, 4)


def write_audio_only(path):
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.fixture
def broken_files(tmp_path):
    """One usable clip and one file for each way a clip can be unusable."""
    good = write_clip(tmp_path / "good.mp4", ramp_clip(12))
    cases = {}
    cases["empty"] = tmp_path / "empty.mp4"
    cases["empty"].write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])  # the index (moov) is at the end
    cases["truncated"] = truncated
    cases["garbage_avi"] = tmp_path / "garbage.avi"
    cases["garbage_avi"].write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    cases["text_gif"] = tmp_path / "notes.gif"
    cases["text_gif"].write_text("not a gif")
    cases["jpeg_as_gif"] = tmp_path / "photo.gif"
    from PIL import Image

    Image.fromarray(ramp_clip(1)[0]).save(cases["jpeg_as_gif"], format="JPEG")
    cases["too_short"] = write_clip(tmp_path / "short.mp4", ramp_clip(3))
    cases["audio_only"] = tmp_path / "audio.mp4"
    write_audio_only(cases["audio_only"])
    cases["not_video"] = tmp_path / "readme.txt"
    cases["not_video"].write_text("clips of people waving")
    return good, cases


REASONS = {
    "empty": "empty file",
    "truncated": "corrupt or unreadable",
    "garbage_avi": "corrupt or unreadable",
    "text_gif": "corrupt or unreadable",
    "jpeg_as_gif": "not a GIF file",
    "too_short": "too short (3 frames, need at least 8)",
    "audio_only": "no video stream",
    "not_video": "not a video file",
}


def test_each_broken_file_raises_a_clip_error_naming_it(broken_files):
    good, cases = broken_files
    assert reader.read_frames(good, num_frames=8, size=16).shape == (8, 16, 16, 3)
    for name, path in cases.items():
        with pytest.raises(reader.ClipError) as error:
            reader.read_frames(path, num_frames=8, size=16)
        message = str(error.value)
        assert str(path) in message and REASONS[name] in message, (name, message)
        assert isinstance(error.value, DataError)


def test_too_short_is_accepted_with_a_lower_minimum(broken_files):
    _, cases = broken_files
    frames = reader.read_frames(cases["too_short"], num_frames=8, size=16, min_frames=3)
    assert frames.shape == (8, 16, 16, 3)


def test_missing_file_is_a_clip_error(tmp_path):
    with pytest.raises(reader.ClipError, match="no such file"):
        reader.read_frames(tmp_path / "nope.mp4")


def make_folder(root, broken=None):
    for c, name in enumerate(["jump", "wave"]):
        folder = root / name
        folder.mkdir(parents=True)
        for i, suffix in enumerate([".mp4", ".avi", ".gif"]):
            write_clip(folder / f"{name}{i}{suffix}", ramp_clip(10) // (c + 1))
    (root / "wave" / ".hidden.mp4").write_bytes(b"")  # hidden files are not clips
    return root


def test_folder_skips_and_reports_broken_files(tmp_path, broken_files):
    _, cases = broken_files
    root = make_folder(tmp_path / "actions")
    for name in ("empty", "truncated", "too_short", "not_video"):
        cases[name].rename(root / "jump" / cases[name].name)
    data = reader.load_video_folder(root, num_frames=8, size=16)
    assert data.class_names == ["jump", "wave"]
    assert data.clips.shape == (6, 8, 16, 16, 3) and data.counts() == {"jump": 3, "wave": 3}
    skipped = dict(data.skipped)
    assert len(skipped) == 4 and all(str(root / "jump") in path for path in skipped)
    assert "too short" in skipped[str(root / "jump" / "short.mp4")]
    assert "6 clips" in repr(data) and "4 skipped" in repr(data)


def test_folder_cache_is_used_and_refreshed(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "actions")
    first = reader.load_video_folder(root, num_frames=4, size=16)

    def fail(*args, **kwargs):
        raise AssertionError("read_frames called although the folder is cached")

    monkeypatch.setattr(reader, "read_frames", fail)
    second = reader.load_video_folder(root, num_frames=4, size=16)
    np.testing.assert_array_equal(first.clips, second.clips)
    assert second.paths == first.paths and second.skipped == first.skipped
    monkeypatch.undo()
    write_clip(root / "wave" / "extra.mp4", ramp_clip(10))  # the folder changed: read again
    assert len(reader.load_video_folder(root, num_frames=4, size=16)) == 7
    leftovers = [p for p in (tmp_path.parent).rglob("*.tmp")]
    assert not leftovers


def test_validation_folder_uses_the_training_classes(tmp_path):
    root = make_folder(tmp_path / "val")
    data = reader.load_video_folder(root, num_frames=4, size=16, class_names=["run", "jump", "wave"])
    assert data.class_names == ["run", "jump", "wave"] and set(data.labels.tolist()) == {1, 2}
    with pytest.raises(DataError, match="not among the expected classes"):
        reader.load_video_folder(root, num_frames=4, size=16, class_names=["jump"])


def test_folder_errors_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        reader.load_video_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    write_clip(tmp_path / "flat" / "a.mp4", ramp_clip(10))
    with pytest.raises(DataError, match="no class sub-folders"):
        reader.load_video_folder(tmp_path / "flat")
    (tmp_path / "bad" / "wave").mkdir(parents=True)
    (tmp_path / "bad" / "wave" / "x.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="no usable clip found .*empty file"):
        reader.load_video_folder(tmp_path / "bad")


def test_subset_keeps_labels_and_paths(tmp_path):
    data = reader.load_video_folder(make_folder(tmp_path / "a"), num_frames=4, size=16)
    part = data.subset([0, 5])
    assert len(part) == 2 and part.labels.tolist() == [0, 1] and part.paths == [data.paths[0], data.paths[5]]


def test_a_class_folder_that_is_a_symlink_loop_is_skipped_and_reported(tmp_path):
    root = make_folder(tmp_path / "actions")
    (root / "loopclass").symlink_to(".")  # `ln -s . actions/loopclass`: would relabel every clip
    (root / "wave_again").symlink_to("wave")  # a second name for a class
    data = reader.load_video_folder(root, num_frames=8, size=16, cache=False)
    assert data.class_names == ["jump", "wave"] and data.counts() == {"jump": 3, "wave": 3}
    skipped = dict(data.skipped)
    assert "symlink loop" in skipped[str(root / "loopclass")]
    assert "already used" in skipped[str(root / "wave_again")]
