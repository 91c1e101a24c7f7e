"""Reports of ``dice sweep``: a table for people, JSON and CSV for scripts, a plot (SVG or PNG)."""

from __future__ import annotations

import csv
import io
import json
import math

from .. import __version__


def _num(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _t(result, index) -> float | None:
    return None if index is None else float(result.thresholds[index])


def render_json(result) -> str:
    """Strict JSON: settings, and per class the best threshold and the whole curve."""
    classes = {}
    for c in result.classes:
        best = c.best_index
        classes[c.key] = {
            "n_cases": c.n_cases,
            "best_threshold": _t(result, best),
            "best_mean_dice": None if best is None else _num(c.mean_dice[best]),
            "best_mean_dice_ci95": None if c.best_ci is None else [float(v) for v in c.best_ci],
            "best_pooled_threshold": _t(result, c.best_pooled_index),
            "best_pooled_dice": None if c.best_pooled_index is None else _num(c.pooled_dice[c.best_pooled_index]),
            "curve": [{"threshold": float(t), "mean_dice": _num(m), "pooled_dice": _num(p), "n": int(n)}
                      for t, m, p, n in zip(result.thresholds, c.mean_dice, c.pooled_dice, c.n_defined, strict=False)],
        }
    doc = {
        "schema": 1,
        "tool": {"name": "dicecli", "version": __version__, "command": "sweep"},
        "settings": {"metric": "hard_dice", "thresholds": [float(t) for t in result.thresholds],
                     "rule": "p >= t in the map's own precision", "empty_both": result.settings.empty_both,
                     "ignore_label": result.settings.ignore_label, "bootstrap": {"resamples": 10000, "seed": 0}},
        "classes": classes,
        "n_cases": result.n_cases,
        "errors": [{"case": e.case, "path": e.path, "message": e.message} for e in result.errors],
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def render_csv(result) -> str:
    """One row per (class, threshold): class,threshold,mean_dice,pooled_dice,n (undefined: empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["class", "threshold", "mean_dice", "pooled_dice", "n"])
    for c in result.classes:
        for t, m, p, n in zip(result.thresholds, c.mean_dice, c.pooled_dice, c.n_defined, strict=False):
            writer.writerow([c.key, repr(float(t)), "" if _num(m) is None else repr(float(m)),
                             "" if _num(p) is None else repr(float(p)), int(n)])
    return out.getvalue()


def table_rows(result) -> list[list[str]]:
    """Per class: cases, best threshold, its mean Dice [95% CI], pooled Dice there, best pooled threshold."""
    rows = []
    for c in result.classes:
        b = c.best_index
        if b is None:
            rows.append([c.key, str(c.n_cases), "–", "–", "–", "–", "–"])
            continue
        ci = "–" if c.best_ci is None else f"[{c.best_ci[0]:.4f}, {c.best_ci[1]:.4f}]"
        bp = c.best_pooled_index
        rows.append([c.key, str(c.n_cases), f"{result.thresholds[b]:g}", f"{c.mean_dice[b]:.4f}", ci,
                     f"{c.pooled_dice[b]:.4f}", "–" if bp is None else f"{result.thresholds[bp]:g}"])
    return rows


HEADERS = ["class", "cases", "best t", "mean Dice", "95% CI", "pooled at t", "best pooled t"]


def print_table(result, console) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title=f"Best threshold per class over {result.n_cases} case(s)",
                  title_justify="left")
    for i, name in enumerate(HEADERS):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in table_rows(result):
        table.add_row(*row)
    console.print(table)
    console.print(f"hard Dice at {len(result.thresholds)} thresholds from {result.thresholds[0]:g} to "
                  f"{result.thresholds[-1]:g} (p >= t in the map's own precision) · best = highest mean over "
                  "cases, lowest t on ties · 95% CI: bootstrap over cases at that t (10000 resamples, seed 0; "
                  "not adjusted for picking t)")


# ------------------------------------------------------------------ plot

#: Colour-blind-safe line colours (Okabe and Ito's palette).
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
WIDTH, HEIGHT, MARGIN = 640, 400, 48


def _xy(t: float, d: float) -> tuple[float, float]:
    return (MARGIN + t * (WIDTH - 2 * MARGIN), HEIGHT - MARGIN - d * (HEIGHT - 2 * MARGIN))


def _lines(result):
    for i, c in enumerate(result.classes):
        points = [_xy(float(t), float(m)) for t, m in zip(result.thresholds, c.mean_dice, strict=True)
                  if math.isfinite(m)]
        best = None if c.best_index is None else _xy(float(result.thresholds[c.best_index]),
                                                     float(c.mean_dice[c.best_index]))
        yield c.key, COLOURS[i % len(COLOURS)], points, best


def render_svg(result) -> str:
    """Mean Dice against threshold, one line per class, the best threshold marked."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    x0, y0 = _xy(0, 0)
    x1, y1 = _xy(1, 1)
    parts.append(f'<path d="M{x0},{y1} V{y0} H{x1}" fill="none" stroke="black"/>')
    for v in (0, 0.25, 0.5, 0.75, 1):
        x, _ = _xy(v, 0)
        _, y = _xy(0, v)
        parts.append(f'<text x="{x}" y="{y0 + 16}" text-anchor="middle">{v:g}</text>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4}" text-anchor="end">{v:g}</text>')
        parts.append(f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#ddd"/>')
    parts.append(f'<text x="{(x0 + x1) / 2}" y="{HEIGHT - 8}" text-anchor="middle">threshold t (p &gt;= t)</text>')
    parts.append(f'<text x="14" y="{(y0 + y1) / 2}" transform="rotate(-90 14 {(y0 + y1) / 2})" '
                 'text-anchor="middle">mean Dice over cases</text>')
    for i, (key, colour, points, best) in enumerate(_lines(result)):
        if points:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if best:
            parts.append(f'<circle cx="{best[0]:.1f}" cy="{best[1]:.1f}" r="4" fill="{colour}"/>')
        label = _escape(key)
        parts.append(f'<text x="{x1 - 4}" y="{y1 + 14 + 15 * i}" text-anchor="end" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_png(result) -> bytes:
    """The same plot as render_svg, drawn with Pillow (no text labels beyond the axes' ticks)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    x0, y0 = _xy(0, 0)
    x1, y1 = _xy(1, 1)
    for v in (0, 0.25, 0.5, 0.75, 1):
        _, y = _xy(0, v)
        draw.line([(x0, y), (x1, y)], fill="#dddddd")
        draw.text((x0 - 30, y - 6), f"{v:g}", fill="black")
        x, _ = _xy(v, 0)
        draw.text((x - 8, y0 + 6), f"{v:g}", fill="black")
    draw.line([(x0, y1), (x0, y0), (x1, y0)], fill="black")
    draw.text(((x0 + x1) / 2 - 50, HEIGHT - 16), "threshold t (p >= t)", fill="black")
    draw.text((4, 8), "mean Dice over cases", fill="black")
    for i, (key, colour, points, best) in enumerate(_lines(result)):
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        if best:
            draw.ellipse([best[0] - 4, best[1] - 4, best[0] + 4, best[1] + 4], fill=colour)
        draw.text((x1 - 120, y1 + 4 + 15 * i), str(key)[:20], fill=colour)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def plot_bytes(result, path: str) -> bytes:
    """The plot for ``path``: SVG text for .svg, PNG otherwise."""
    if str(path).lower().endswith(".svg"):
        return render_svg(result).encode("utf-8")
    return render_png(result)


