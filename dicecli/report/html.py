"""A self-contained HTML report of a run: one file, no network, images inline.

Rendered from the run's JSON record (run_record, or a saved ``--json`` file), so
``dice score --html`` and ``dice report run.json --html`` give the same page:
the settings; the per-class summary; a strip plot of case Dice per class; the
worst cases per class with overlay thumbnails (TP, FP, FN in three colours that
colour-blind readers tell apart, the ground truth's edge in white; 2D images
whole, 3D the slice with most errors along each axis), read again from the files
(a case whose files are gone says so); a case table sorted by a click on a
column header. Plots are hand-written SVG and thumbnails PNG (Pillow): no
plotting library, about 10 lines of JavaScript.
"""

from __future__ import annotations

import base64
import html
import io
import math

#: Worst cases shown per class, each with its thumbnails.
WORST_PER_CLASS = 3
_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 20px}th,td{padding:3px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:1px solid #444;cursor:pointer}
tbody tr:nth-child(odd){background:#f4f4f4}.muted{color:#777}.case{display:inline-block;margin:6px 14px 6px 0}
.thumbs img{margin-right:4px;image-rendering:pixelated;border:1px solid #ccc}.key span{padding:0 8px;margin-right:6px}
.error{color:#a00}
"""
_SCRIPT = """
document.querySelectorAll('table.sortable thead th').forEach(function (th, column) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.dataset.order !== 'asc';
    th.dataset.order = up ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.v, y = b.cells[column].dataset.v;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.body.dataset.ready = '1';
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _f(value, digits: int = 4) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def _png_data_uri(rgb) -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _strip_plot(values: list[float], mean) -> str:
    """An inline SVG: one dot per case Dice on [0, 1], the mean as a line."""
    width, height, pad = 360, 44, 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<line x1="{pad}" y1="{height - 12}" x2="{width - pad}" y2="{height - 12}" stroke="#999"/>']
    for tick in (0, 0.5, 1):
        x = pad + tick * (width - 2 * pad)
        parts.append(f'<text x="{x}" y="{height - 1}" font-size="9" text-anchor="middle">{tick:g}</text>')
    for i, v in enumerate(values):
        x = pad + v * (width - 2 * pad)
        y = 8 + (i * 7919 % 17)  # a fixed jitter, so equal values stay visible
        parts.append(f'<circle cx="{x:.1f}" cy="{y}" r="3" fill="#0072B2" fill-opacity="0.6"/>')
    if mean is not None:
        x = pad + mean * (width - 2 * pad)
        parts.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 12}" stroke="#D55E00" '
                     'stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _settings_text(settings: dict, kinds: dict) -> str:
    smooth = settings.get("smooth", 0)
    thresholded = any(k in ("probability", "multilabel", "regions") for k in kinds) or not kinds
    threshold = f"threshold p >= {settings.get('threshold', 0.5):g}" if thresholded else "no threshold"
    read = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    parts = [f"hard Dice · {threshold}",
             "smooth 0 (exact)" if not smooth else f"smooth {smooth:g} (smoothed, not exact)",
             f"both-empty = {settings.get('empty_both', 'nan')}"]
    if settings.get("ignore_label") is not None:
        parts.append(f"ignore label {settings['ignore_label']}")
    if read:
        parts.append(f"predictions: {read}")
    return " · ".join(parts)


def _case_settings(settings: dict):
    """The Settings a saved run was scored with, as far as reading the prediction goes."""
    from ..settings import Settings

    thresholds = {int(k): v for k, v in (settings.get("thresholds") or {}).items() if str(k).isdigit()}
    return Settings(threshold=settings.get("threshold", 0.5), thresholds=tuple(thresholds.items()),
                    pred_kind=settings.get("pred_kind", "auto"), prob_scale=settings.get("prob_scale"),
                    channel_axis=settings.get("channel_axis"), multilabel=bool(settings.get("multilabel")),
                    axis_order=settings.get("axis_order", "auto"), geometry="ignore",
                    regions=tuple((k, tuple(v)) for k, v in (settings.get("regions") or {}).items()),
                    region_labels=tuple(settings.get("region_labels") or ()))


def _thumbnails(case: dict, members, settings, cache: dict) -> str:
    from ..errors import InputError
    from ..overlay import overlay_rgb, read_case_masks, worst_slices

    key = (case["gt"], case["pred"])
    if key not in cache:
        try:
            cache[key] = read_case_masks(case["gt"], case["pred"], settings)
        except (InputError, OSError, ValueError) as exc:
            cache[key] = str(getattr(exc, "reason", exc))
    masks = cache[key]
    if isinstance(masks, str):
        return f'<span class="muted">no picture: {_e(masks)}</span>'
    truth, pred = masks.masks(members)
    images = []
    for view, g, p in worst_slices(truth, pred):
        images.append(f'<img src="{_png_data_uri(overlay_rgb(g, p))}" alt="{_e(case["case"])} {_e(view)}" '
                      f'title="{_e(view)}">')
    return f'<div class="thumbs">{"".join(images)}</div>'


def render_html(record: dict, *, title: str = "dice report", pictures: bool = True) -> str:
    """The page for a run record (the JSON document of ``dice score``, decoded)."""
    settings = record.get("settings", {})
    classes = settings.get("classes") or [{"key": k, "labels": [int(k)] if k.isdigit() else [], "region": False}
                                          for k in record.get("summary", {}).get("classes", {})]
    summary = record.get("summary", {}).get("classes", {})
    cases = record.get("cases", [])
    out = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
           f"<style>{_CSS}</style></head><body>", f"<h1>{_e(title)}</h1>",
           f"<p>{len(cases)} case(s) scored, {len(record.get('errors', []))} not scored · "
           f"{_e(_settings_text(settings, record.get('summary', {}).get('pred_kinds') or {}))}</p>"]
    out.append('<h2>Per class</h2><table class="sortable"><thead><tr>' + "".join(
        f"<th>{h}</th>" for h in ("class", "n", "undef", "mean", "std", "median", "min", "max", "pooled",
                                  "case Dice (dots) and mean (line)")) + "</tr></thead><tbody>")
    for spec in classes:
        s = summary.get(spec["key"], {})
        values = [c["classes"][spec["key"]]["dice"] for c in cases
                  if spec["key"] in c["classes"] and c["classes"][spec["key"]]["dice"] is not None]
        cells = [s.get(name) for name in ("mean", "std", "median", "min", "max", "pooled")]
        out.append(f'<tr><td data-v="{_e(spec["key"])}">{_e(spec["key"])}</td>'
                   f'<td data-v="{s.get("n", 0)}">{s.get("n", 0)}</td>'
                   f'<td data-v="{s.get("n_undefined", 0)}">{s.get("n_undefined", 0)}</td>'
                   + "".join(f'<td data-v="{"" if v is None else v}">{_f(v)}</td>' for v in cells)
                   + f"<td>{_strip_plot(values, s.get('mean'))}</td></tr>")
    overall = record.get("summary", {})
    out.append(f"</tbody></table><p>overall mean {_f(overall.get('mean'))} · pooled {_f(overall.get('pooled'))}</p>")
    out.append('<h2>Worst cases</h2><p class="key"><span style="background:rgb(0,114,178);color:#fff">TP</span>'
               '<span style="background:rgb(230,159,0)">FP</span>'
               '<span style="background:rgb(204,121,167)">FN</span>'
               '<span style="background:#282828;color:#fff">ground-truth edge in white</span></p>')
    case_settings = _case_settings(settings) if pictures else None
    cache: dict = {}
    for spec in classes:
        ranked = sorted((c for c in cases if c["classes"].get(spec["key"], {}).get("dice") is not None),
                        key=lambda c: (c["classes"][spec["key"]]["dice"], c["case"]))[:WORST_PER_CLASS]
        out.append(f"<h3>class {_e(spec['key'])}</h3>")
        if not ranked:
            out.append('<p class="muted">no case with a defined Dice</p>')
        for case in ranked:
            score = case["classes"][spec["key"]]
            picture = (_thumbnails(case, spec["labels"], case_settings, cache) if pictures
                       else '<span class="muted">pictures off</span>')
            out.append(f'<div class="case"><b>{_e(case["case"])}</b> Dice {_f(score["dice"])} '
                       f'(TP {score["tp"]}, FP {score["fp"]}, FN {score["fn"]}, {_e(score["status"])})'
                       f"{picture}</div>")
    keys = [spec["key"] for spec in classes]
    out.append('<h2>Cases</h2><p class="muted">click a column to sort</p><table class="sortable"><thead><tr>'
               "<th>case</th>" + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr></thead><tbody>")
    for case in cases:
        cells = []
        for k in keys:
            d = case["classes"].get(k, {}).get("dice")
            cells.append(f'<td data-v="{"" if d is None else d}">{_f(d)}</td>')
        out.append(f'<tr><td data-v="{_e(case["case"])}">{_e(case["case"])}</td>{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    errors = record.get("errors", [])
    if errors:
        out.append("<h2>Not scored</h2><ul>" + "".join(f'<li class="error">{_e(e["message"])}</li>' for e in errors)
                   + "</ul>")
    out.append(f"<script>{_SCRIPT}</script></body></html>\n")
    return "\n".join(out)
