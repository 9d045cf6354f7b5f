"""tools/readme_screenshot.py: the README's picture of the network map comes from the browser test."""

import importlib.util
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_screenshot", ROOT / "tools" / "readme_screenshot.py")
readme_screenshot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_screenshot)


def test_writes_a_small_palette_png(tmp_path, capsys):
    source = tmp_path / "map.png"
    image = Image.new("RGB", (300, 80), "#c9ced6")
    image.paste((31, 111, 180), (200, 0, 300, 80))
    image.save(source)
    target = tmp_path / "docs" / "network-map.png"
    assert readme_screenshot.main(["--source", str(source), "--target", str(target)]) == 0
    with Image.open(target) as written:
        assert written.mode == "P" and written.size == (300, 80)
        assert written.convert("RGB").getpixel((250, 40)) == (31, 111, 180)
    assert f"{target}: " in capsys.readouterr().out


def test_missing_screenshot_names_the_browser_test(tmp_path, capsys):
    assert readme_screenshot.main(["--source", str(tmp_path / "none.png"), "--target", str(tmp_path / "t.png")]) == 2
    assert "tests/test_browser.py" in capsys.readouterr().err


def test_readme_shows_the_committed_screenshot():
    readme = (ROOT / "README.md").read_text()
    assert "docs/images/network-map.png" in readme and "browser test" in readme
    image = ROOT / "docs" / "images" / "network-map.png"
    assert image.is_file() and image.stat().st_size < 150_000
