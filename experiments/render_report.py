"""Render `relapse-ml report` pages in a real headless browser and check that they show.

    python experiments/render_report.py                 # train + benefit runs on the demo cohort
    python experiments/render_report.py --run RUN_ID --tracking-uri sqlite:///$PWD/mlruns.db

Installs Debian's ``chromium`` with apt-get when it is missing (needs root), tracks small
runs in a temporary MLflow store (unless ``--run`` names one), builds each report, takes a
headless screenshot and checks: chromium exited 0 and logged no page error or network
request; the screenshot is not blank; the figures are visible: a second shot with every
figure swapped for a same-size magenta block locates them, and the real shot must have
the same layout outside those blocks and drawn (inked, non-magenta) pixels inside them.
Screenshots go to experiments/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FAST_TRAIN = """name: report-demo
models:
  - name: aalen_johansen
  - name: cox_cs
    params: {penalizer: 0.1}
  - name: xgb_cs
    params: {n_estimators: 100, learning_rate: 0.05, max_depth: 2, min_child_weight: 5}
evaluation: {n_splits: 5, n_boot: 50}
tracking: {log_model: false}
"""
FAST_BENEFIT = """name: report-demo
learners:
  - {label: s_fg_risk, kind: s, interactions: [], model: {name: fine_gray, params: {penalizer: 0.1}}}
  - {label: dr_fg, kind: dr, model: {name: fine_gray, params: {penalizer: 0.1}}}
primary: dr_fg
intervals: {n_boot: 0}
heterogeneity: {n_boot: 100}
subgroups: {names: [mrd_detectable, chimerism, age_band, donor_type]}
explain: {top_features: 2, n_patients: 0, surrogate: {n_estimators: 50}}
"""
# lines chromium writes for a broken page; the dbus/GPU chatter of a container is not one
DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
PAGE_ERRORS = re.compile(r"CONSOLE|Uncaught|net::ERR|Failed to load resource|ERR_BLOCKED")


def ensure_chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("chromium is not installed; run as root or: apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"], check=True, env=env
    )
    return shutil.which("chromium") or sys.exit("apt-get did not install chromium")


def cli(args: list[str], cwd: Path, uri: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    res = subprocess.run(
        [sys.executable, "-m", "relapse_ml.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if res.returncode:
        sys.exit(f"relapse-ml {' '.join(map(str, args))} failed ({res.returncode}):\n{res.stderr}")
    return res


def screenshot(chromium: str, page: Path, png: Path, width: int, height: int) -> dict:
    """Headless screenshot of a local page; returns exit code, time and page-error lines."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    errors = [ln for ln in (res.stderr + res.stdout).splitlines() if PAGE_ERRORS.search(ln)]
    return {
        "returncode": res.returncode,
        "seconds": round(time.perf_counter() - t0, 2),
        "page_errors": errors,
        "written": png.exists() and png.stat().st_size > 0,
    }


def ink(png: Path) -> dict:
    """Fractions of non-white pixels and of coloured (saturated) ones."""
    from PIL import Image

    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=float)
    non_white = (rgb.min(axis=2) < 245).mean()
    colored = ((rgb.max(axis=2) - rgb.min(axis=2)) > 60).mean()
    return {"non_white": round(float(non_white), 4), "colored": round(float(colored), 4)}


MAGENTA = (255, 0, 255)


def placeholder_like(b64: str) -> str:
    """A solid magenta PNG of the embedded image's size: same layout, known figure pixels."""
    import base64
    import io

    from PIL import Image

    size = Image.open(io.BytesIO(base64.b64decode(b64))).size
    buf = io.BytesIO()
    Image.new("RGB", size, MAGENTA).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def figure_regions(real: Path, placeholder: Path) -> dict:
    """Where the figures sit (magenta in the placeholder shot), and how the real shot looks there.

    ``area``: fraction of the screenshot covered by figures; ``inked``: fraction of those
    pixels not white in the real shot (a figure drew something); ``magenta_left``: fraction
    still magenta-like; ``layout_diff``: fraction of pixels OUTSIDE the figures that differ
    between the shots — near 0 only if the real images kept their size (a broken image
    collapses and shifts everything below it).
    """
    from PIL import Image

    x = np.asarray(Image.open(real).convert("RGB"), dtype=int)
    y = np.asarray(Image.open(placeholder).convert("RGB"), dtype=int)
    if x.shape != y.shape:
        return {"area": 0.0, "inked": 0.0, "magenta_left": 1.0, "layout_diff": 1.0}
    mask = np.abs(y - np.array(MAGENTA)).max(axis=2) < 40
    inside = x[mask]
    outside = np.abs(x - y).max(axis=2)[~mask] > 30
    return {
        "area": round(float(mask.mean()), 4),
        "inked": round(float((inside.min(axis=1) < 245).mean()) if inside.size else 0.0, 4),
        "magenta_left": round(
            float((np.abs(inside - np.array(MAGENTA)).max(axis=1) < 40).mean())
            if inside.size
            else 1.0,
            4,
        ),
        "layout_diff": round(float(outside.mean()) if outside.size else 1.0, 4),
    }


def check_page(chromium: str, html: Path, png: Path, width: int, height: int) -> dict:
    """Screenshot the page, and the page with each figure swapped for a same-size magenta
    block; judge the page and whether the figures really drew where they belong."""
    shot = screenshot(chromium, html, png, width, height)
    ph_html = html.with_name(html.stem + "_placeholders.html")
    ph_html.write_text(
        DATA_URI.sub(lambda m: f'src="{placeholder_like(m.group(1))}"', html.read_text())
    )
    ph_png = png.with_name(png.stem + "_placeholders.png")
    ph = screenshot(chromium, ph_html, ph_png, width, height)
    with_figs = ink(png)
    regions = figure_regions(png, ph_png)
    text = html.read_text().lower()
    checks = {
        "no external reference in the HTML": not re.search(
            r"https?://|src=[\"']//|<script|<link", text
        ),
        "chromium exited 0": shot["returncode"] == 0 and ph["returncode"] == 0,
        "no page error or network request": not shot["page_errors"],
        "screenshot written": shot["written"],
        "not blank (> 5% inked)": with_figs["non_white"] > 0.05,
        "figures laid out at full size (< 1% of other pixels move)": regions["layout_diff"] < 0.01,
        "figures drawn (> 10% of the screenshot, > 2% of it inked)": regions["area"] > 0.10
        and regions["inked"] > 0.02
        and regions["magenta_left"] < 0.001,
    }
    return {
        "page": str(html),
        "bytes": html.stat().st_size,
        "screenshot": str(png),
        "chromium_seconds": shot["seconds"],
        "ink": with_figs,
        "figure_regions": regions,
        "page_errors": shot["page_errors"][:5],
        "checks": checks,
        "ok": all(checks.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", help="report this run instead of tracking new ones")
    ap.add_argument("--tracking-uri", help="with --run: the store holding it")
    ap.add_argument("--data", help="the run's cohort directory (default: the demo cohort)")
    ap.add_argument("--no-benefit", action="store_true", help="only the training report")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    args = ap.parse_args()

    chromium = ensure_chromium()
    version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="render-report-"))
    uri = args.tracking_uri or f"sqlite:///{work / 'mlruns.db'}"
    data = ["--data", args.data] if args.data else []
    args.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pages = {}
    if args.run:
        pages["report"] = args.run
    else:
        (work / "train.yaml").write_text(FAST_TRAIN)
        pages["report"] = json.loads(
            cli(["train", "--config", work / "train.yaml", "--json", *data], work, uri).stdout
        )["run_id"]
        if not args.no_benefit:
            (work / "benefit.yaml").write_text(FAST_BENEFIT)
            pages["report_benefit"] = json.loads(
                cli(
                    ["benefit", "--config", work / "benefit.yaml", "--json", *data], work, uri
                ).stdout
            )["run_id"]
            cli(["subgroups", "--config", work / "benefit.yaml", "--json", *data], work, uri)
    runs_seconds = time.perf_counter() - t0

    summary = {
        "chromium": version,
        "tracking_uri": uri,
        "runs_seconds": round(runs_seconds, 1),
        "pages": {},
    }
    for name, run_id in pages.items():
        html = work / f"{name}.html"
        t1 = time.perf_counter()
        built = json.loads(
            cli(["report", "--run", run_id, "--out", html, "--json", *data], work, uri).stdout
        )
        report_seconds = time.perf_counter() - t1
        result = check_page(
            chromium, html, work / f"{name}_screenshot.png", args.width, args.height
        )
        shutil.copy(work / f"{name}_screenshot.png", args.out_dir / f"{name}_screenshot.png")
        result.update(
            {
                "run_id": run_id,
                "kind": built["kind"],
                "sections": built["sections"],
                "figures": built["figures"],
                "report_seconds": round(report_seconds, 1),
                "screenshot": str(args.out_dir / f"{name}_screenshot.png"),
            }
        )
        summary["pages"][name] = result
        status = "ok" if result["ok"] else "FAILED"
        print(
            f"{name}: {built['kind']} run {run_id}, {len(built['sections'])} sections, "
            f"{built['figures']} figures, {result['bytes'] / 1e6:.1f} MB, built in "
            f"{report_seconds:.1f} s; chromium {result['chromium_seconds']} s; inked "
            f"{100 * result['ink']['non_white']:.1f}%; figures cover "
            f"{100 * result['figure_regions']['area']:.0f}% of the screenshot, "
            f"{100 * result['figure_regions']['inked']:.0f}% of that inked -> {status}"
        )
        for check, passed in result["checks"].items():
            print(f"  [{'x' if passed else ' '}] {check}")
    (args.out_dir / "render_report.json").write_text(json.dumps(summary, indent=1))
    print(f"screenshots and render_report.json in {args.out_dir}; pages in {work}")
    return 0 if all(p["ok"] for p in summary["pages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
