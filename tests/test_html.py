"""The HTML report: self-contained, the numbers of the run, overlays of the worst cases, and a page
that renders in a real browser (headless Chromium; skipped with a reason where it is absent)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dicecli.cli import main
from dicecli.overlay import FN_RGB, FP_RGB, TP_RGB, overlay_rgb, worst_slices

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dice(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def make_report(tmp_path, set_name="nifti3d"):
    out = tmp_path / f"{set_name}.html"
    result = dice("score", FIXTURES / set_name / "gt", FIXTURES / set_name / "pred", "--html", out,
                  "--json", tmp_path / f"{set_name}.json", "-q")
    assert result.exit_code == 0, result.stderr
    return out, out.read_text(encoding="utf-8")


def test_page_is_self_contained_and_holds_the_numbers(tmp_path):
    _, page = make_report(tmp_path)
    assert not re.search(r"<link|<script[^>]*src=|@import|url\(", page)
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # the SVG namespace is no fetch
    assert "0.7267" in page and "0.4213" in page  # the class means of the README's demo run
    assert len(sources) == 2 * 3 * 3  # 2 classes x 3 worst cases x 3 views of a 3D case


def test_report_from_a_saved_run_equals_the_live_one(tmp_path):
    _, live = make_report(tmp_path)
    out = tmp_path / "again.html"
    result = dice("report", tmp_path / "nifti3d.json", "--html", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8") == live
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    result = dice("report", bad, "--html", tmp_path / "x.html")
    assert result.exit_code == 3 and str(bad) in result.stderr and len(result.stderr.splitlines()) == 1
    assert dice("report", bad, "--html", bad).exit_code == 2  # never over an input


def test_missing_files_give_a_note_not_a_failure(tmp_path):
    make_report(tmp_path, "png2d")
    doc = json.loads((tmp_path / "png2d.json").read_text())
    for case in doc["cases"]:
        case["pred"] = str(tmp_path / "gone" / "x.png")
    (tmp_path / "moved.json").write_text(json.dumps(doc))
    result = dice("report", tmp_path / "moved.json", "--html", tmp_path / "m.html")
    assert result.exit_code == 0, result.stderr
    assert "no picture" in (tmp_path / "m.html").read_text()


def test_overlay_colours_and_worst_slices():
    g = np.zeros((5, 6), bool)
    p = np.zeros((5, 6), bool)
    g[1:4, 1:4] = True  # 3 x 3: its edge is the 8 outer voxels, (2, 2) its inside
    p[2:4, 2:5] = True
    rgb = overlay_rgb(g, p, size=6)  # 6 // 6: one pixel per voxel
    assert tuple(rgb[2, 2]) == TP_RGB
    assert tuple(rgb[2, 4]) == FP_RGB and tuple(rgb[3, 4]) == FP_RGB
    assert tuple(rgb[1, 1]) == (255, 255, 255)  # the ground truth's edge
    assert tuple(rgb[0, 0]) == (40, 40, 40)
    big = np.zeros((7, 7), bool)
    big[1:6, 1:6] = True
    assert tuple(overlay_rgb(big, np.zeros_like(big), size=7)[3, 3]) == FN_RGB
    assert overlay_rgb(big, big, size=70).shape == (70, 70, 3)
    vol_g = np.zeros((4, 5, 6), bool)
    vol_p = np.zeros((4, 5, 6), bool)
    vol_g[2, 1:3, 1:3] = True
    vol_p[2, 3, 4] = True
    assert [v[0] for v in worst_slices(vol_g, vol_p)] == ["axis 0 = 2", "axis 1 = 1", "axis 2 = 1"]


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--enable-logging=stderr", "--v=0"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
@pytest.mark.parametrize("set_name", ["nifti3d", "png2d"])
def test_page_renders_in_chromium(tmp_path, set_name):
    page, _ = make_report(tmp_path, set_name)
    shot = tmp_path / "shot.png"
    run = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.exists(), run.stderr[-2000:]
    assert "Uncaught" not in run.stderr and ":CONSOLE" not in run.stderr.replace("INFO:CONSOLE", "")
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # text, tables and pictures, not a blank page
    assert (np.all(pixels == TP_RGB, axis=-1)).any() or (np.all(pixels == FN_RGB, axis=-1)).any()
    dom = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120)
    assert 'data-ready="1"' in dom.stdout  # the script ran to its end
    assert "Uncaught" not in dom.stderr
    assert dom.stdout.count("<img") >= 3
