"""``dice compare A.json B.json``: paired per-class differences between two runs.

For each class in both reports, the differences d = Dice(B) - Dice(A) over the
cases present and defined in both (sorted by case name; rounded to 12 decimals,
so 0.81 - 0.80 and 0.71 - 0.70 tie as they should) give: n, the mean
difference, a 95% percentile bootstrap interval (10000 resamples,
numpy.random.default_rng(0)), an exact two-sided sign test and a two-sided
Wilcoxon signed-rank test (both with zero differences dropped); see
dicecli.checks.stats. Cases and classes in only one report are listed, never dropped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .baseline import RunScores, class_order, only_in, pair_class, read_scores, settings_differences
from .stats import WilcoxonResult, bootstrap_ci, sign_test, wilcoxon_signed_rank

CONFIDENCE = 0.95
RESAMPLES = 10_000
SEED = 0
#: Differences are rounded to this many decimals, so float noise neither splits ties nor hides zeros.
DECIMALS = 12


@dataclass(frozen=True)
class ClassComparison:
    """Paired statistics of one class; None where undefined (no pair, or no non-zero difference)."""

    key: str
    n: int
    n_undefined: int
    mean_a: float | None
    mean_b: float | None
    mean_difference: float | None
    ci: tuple[float, float] | None
    n_better: int
    n_worse: int
    n_equal: int
    sign_p: float | None
    wilcoxon: WilcoxonResult


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    classes: tuple[ClassComparison, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    classes_only_in_a: tuple[str, ...]
    classes_only_in_b: tuple[str, ...]
    warnings: tuple[str, ...]


def compare_class(a: RunScores, b: RunScores, key: str) -> ClassComparison:
    pairs = pair_class(a, b, key)
    va, vb = np.asarray(pairs.a, dtype=np.float64), np.asarray(pairs.b, dtype=np.float64)
    d = np.round(vb - va, DECIMALS)
    n = int(d.size)
    return ClassComparison(
        key=key,
        n=n,
        n_undefined=pairs.n_undefined,
        mean_a=float(va.mean()) if n else None,
        mean_b=float(vb.mean()) if n else None,
        mean_difference=float(d.mean()) if n else None,
        ci=bootstrap_ci(d, confidence=CONFIDENCE, resamples=RESAMPLES, seed=SEED),
        n_better=int(np.count_nonzero(d > 0)),
        n_worse=int(np.count_nonzero(d < 0)),
        n_equal=int(np.count_nonzero(d == 0)),
        sign_p=sign_test(d),
        wilcoxon=wilcoxon_signed_rank(d),
    )


def compare_scores(a: RunScores, b: RunScores) -> Comparison:
    """Compare two runs class by class (classes in both, numeric keys by value)."""
    keys_b = set(b.classes)
    keys_a = set(a.classes)
    common = [key for key in a.classes if key in keys_b]
    return Comparison(
        a=a.source,
        b=b.source,
        classes=tuple(compare_class(a, b, key) for key in sorted(common, key=class_order)),
        only_in_a=only_in(a, b),
        only_in_b=only_in(b, a),
        classes_only_in_a=tuple(k for k in a.classes if k not in keys_b),
        classes_only_in_b=tuple(k for k in b.classes if k not in keys_a),
        warnings=tuple(settings_differences(a, b)),
    )


def compare_files(a_path: str, b_path: str) -> Comparison:
    """Read two JSON reports (InputError naming the file when one is unusable) and compare them."""
    return compare_scores(read_scores(a_path), read_scores(b_path))


def comparison_record(cmp: Comparison) -> dict:
    """JSON-ready form: undefined statistics are None."""
    classes = {}
    for c in cmp.classes:
        classes[c.key] = {
            "n": c.n,
            "n_undefined": c.n_undefined,
            "mean_a": c.mean_a,
            "mean_b": c.mean_b,
            "mean_difference": c.mean_difference,
            "ci95": None if c.ci is None else list(c.ci),
            "n_better": c.n_better,
            "n_worse": c.n_worse,
            "n_equal": c.n_equal,
            "sign_test_p": c.sign_p,
            "wilcoxon": {"n": c.wilcoxon.n, "w_plus": c.wilcoxon.w_plus, "p": c.wilcoxon.p,
                         "method": c.wilcoxon.method},
        }
    return {
        "schema": 1,
        "a": cmp.a,
        "b": cmp.b,
        "difference": "b - a",
        "settings": {"confidence": CONFIDENCE, "bootstrap": "percentile", "resamples": RESAMPLES,
                     "seed": SEED, "decimals": DECIMALS, "zero_differences": "dropped (sign test and Wilcoxon)"},
        "classes": classes,
        "cases_only_in_a": list(cmp.only_in_a),
        "cases_only_in_b": list(cmp.only_in_b),
        "classes_only_in_a": list(cmp.classes_only_in_a),
        "classes_only_in_b": list(cmp.classes_only_in_b),
        "warnings": list(cmp.warnings),
    }
