"""The classes of a run (plain labels and regions) and region counts (numpy only, no paths).

A region is a union of labels scored like a class (BraTS whole tumour = {1, 2, 3}):
G = gt in R, P = pred in R. Its counts come from the joint confusion cells of
a case when they were kept (up to 256 labels), otherwise from one counting pass
with a lookup table over the label arrays; never from one-hot arrays.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np

from .score import CHUNK_VOXELS, CaseCounts

_LUT_LIMIT = 1 << 20  # largest label value mapped with a lookup table


class ClassSpec(NamedTuple):
    """One column of the results: a plain label or a region (an immutable NamedTuple: built for
    each of tens of thousands of classes, several times faster than a frozen dataclass).

    key: how reports name it: the label name, the region name, or str(label).
    labels: the label values it unites (one for a plain label).
    region: True for a region (scored on the union of its labels).
    """

    key: str
    labels: tuple[int, ...]
    region: bool = False

    @property
    def label(self) -> int | None:
        """The label value of a plain label, None for a region."""
        return None if self.region else self.labels[0]

    @property
    def foreground(self) -> bool:
        """Enters the overall mean and pooled value (everything but label 0)."""
        return self.region or self.labels[0] != 0


#: ClassSpec from a (key, labels, region) tuple, with no Python frame per class (what _make does,
#: without its length check: the tuples are made right here).
_new_spec = partial(tuple.__new__, ClassSpec)


def build_classes(labels, regions=(), names=()) -> tuple[ClassSpec, ...]:
    """Plain labels (in order, named where a name exists) followed by the regions."""
    by_label = {int(v): n for n, v in names}
    values = [int(v) for v in labels]
    out = list(map(_new_spec, [(by_label.get(v) or str(v), (v,), False) for v in values]))
    out += [ClassSpec(name, tuple(int(v) for v in members), True) for name, members in regions]
    # distinct label values have distinct keys; only names and regions can collide
    duplicate = first_duplicate(c.key for c in out) if names or regions else None
    if duplicate is not None:
        raise ValueError(f"two classes are named {duplicate!r}")
    return tuple(out)


def first_duplicate(items):
    """The first item seen twice, or None (one pass: runs have tens of thousands of classes)."""
    seen = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def resolve_class(key: str, classes) -> str | None:
    """The key of the class a command-line key means: the class key itself, or the label value of a
    plain class (``1`` for a label named "liver"); None when no class matches."""
    key = str(key).strip()
    for spec in classes:
        if spec.key == key:
            return spec.key
    if key.isdigit():
        for spec in classes:
            if not spec.region and spec.label == int(key):
                return spec.key
    return None


def region_counts_from_joint(joint, members) -> tuple[int, int, int]:
    """(tp, fp, fn) of the region ``members`` from joint cells (gt values, pred values, n)."""
    g, p, n = joint
    members = np.asarray(members, dtype=np.int64)
    in_g, in_p = np.isin(g, members), np.isin(p, members)
    return int(n[in_g & in_p].sum()), int(n[~in_g & in_p].sum()), int(n[in_g & ~in_p].sum())


def _membership(values: np.ndarray, members: np.ndarray, lut: np.ndarray | None) -> np.ndarray:
    if lut is not None:
        return lut[values]
    return np.isin(values, members)


def region_counts_from_labels(gt: np.ndarray, pred: np.ndarray, regions, *, ignore: int | None = None) -> np.ndarray:
    """(tp, fp, fn) per region as an (n_regions, 3) int64 array, in one chunked pass.

    gt and pred: label arrays of one shape (non-negative integers). Voxels whose
    ground truth is ``ignore`` leave every count.
    """
    out = np.zeros((len(regions), 3), dtype=np.int64)
    if not len(regions) or gt.size == 0:
        return out
    g_all, p_all = gt.reshape(-1), pred.reshape(-1)
    top = int(max(g_all.max(), p_all.max()))
    luts: list[tuple[np.ndarray, np.ndarray | None]] = []  # (labels, lookup table of them or None)
    for members in regions:
        members = np.asarray(members, dtype=np.int64)
        if top < _LUT_LIMIT:
            lut = np.zeros(top + 1, dtype=bool)
            lut[members[members <= top]] = True
            luts.append((members, lut))
        else:
            luts.append((members, None))
    for start in range(0, g_all.size, CHUNK_VOXELS):
        g, p = g_all[start:start + CHUNK_VOXELS], p_all[start:start + CHUNK_VOXELS]
        keep = None if ignore is None else g != ignore
        for row, (members, table) in enumerate(luts):
            in_g, in_p = _membership(g, members, table), _membership(p, members, table)
            if keep is not None:
                in_g &= keep
                in_p &= keep
            tp = int(np.count_nonzero(in_g & in_p))
            out[row] += (tp, int(np.count_nonzero(in_p)) - tp, int(np.count_nonzero(in_g)) - tp)
    return out


def region_counts(counts: CaseCounts, regions, gt=None, pred=None, *, ignore=None) -> np.ndarray:
    """(n_regions, 3) counts: from the joint cells when kept, else a pass over ``gt``/``pred``."""
    if not len(regions):
        return np.zeros((0, 3), dtype=np.int64)
    if counts.joint is not None:
        rows = [region_counts_from_joint(counts.joint, members) for members in regions]
        return np.asarray(rows, dtype=np.int64).reshape(len(regions), 3)
    if gt is None or pred is None:
        raise ValueError("region counts need the joint cells or the label arrays")
    return region_counts_from_labels(gt, pred, regions, ignore=ignore)
