"""Connected components, binary dilation and lesion-wise Dice (numpy; components by cc3d).

Rules (documented in docs/conventions.md and the man page):

- Connectivity "face": voxels sharing a face are connected (4 neighbours in 2D, 6 in 3D);
  "full": sharing a face, an edge or a corner (8 in 2D, 26 in 3D). Components are found per
  label value: two touching voxels of different labels are never one object.
- Dilation (lesion-wise Dice only): ``iterations`` steps of the 3x3x3 cube without its 8 corners
  (18 neighbours) in 3D, the 3x3 square in 2D; voxels outside the image stay background. This
  is scipy.ndimage.binary_dilation with generate_binary_structure(ndim, 2), as BraTS 2023 uses.
- Lesion-wise Dice (BraTS 2023, from its published evaluation code): for one class, the ground
  truth's components (full connectivity by default) whose dilations touch are merged into one
  lesion; a predicted component is matched to a lesion when it overlaps the lesion's dilation
  (a component may match several lesions). Each lesion's Dice is that of the lesion against the
  union of its matched components (0 when none); lesions of volume <= ``min_volume`` (mm3 when
  the spacing is known, else voxels) are left out, and their matched components are not false
  positives; predicted components matched to no lesion are false positives, each counting 0.
  lesion-wise Dice = Σ lesion Dice / (lesions kept + false positives); with neither, the
  ``empty_both`` rule decides (BraTS scores it 1: ``--empty-both one``).
"""

from __future__ import annotations

import numpy as np

CONNECTIVITY = ("face", "full")
EXTRA = "connected-components-3d"


def _cc3d():
    try:
        import cc3d
    except ImportError:  # a dependency; only a broken install lacks it
        raise ImportError(f"connected components need the package {EXTRA} (pip install {EXTRA})") from None
    return cc3d


def _components(labels: np.ndarray, connectivity: str) -> tuple[np.ndarray, int]:
    """(component ids 1..N, N) of a non-negative integer or bool array (see label_components)."""
    if connectivity not in CONNECTIVITY:
        raise ValueError(f"connectivity must be one of {', '.join(CONNECTIVITY)}")
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.view(np.uint8)
    if labels.size == 0 or not labels.any():
        return np.zeros(labels.shape, np.uint16), 0
    if labels.ndim not in (2, 3):
        raise ValueError(f"components need a 2D or 3D array, got {labels.ndim}D")
    neighbours = {("face", 2): 4, ("full", 2): 8, ("face", 3): 6, ("full", 3): 26}[connectivity, labels.ndim]
    if not labels.flags.writeable:  # cc3d takes writable buffers only (readers may hand out read-only maps)
        labels = labels.copy(order="K")
    components, n = _cc3d().connected_components(labels, connectivity=neighbours, return_N=True)
    return components, int(n)


def label_components(labels: np.ndarray, *, connectivity: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """(components, classes): each connected region of one non-zero label value gets its own id
    1..N (uint16/uint32/uint64 as cc3d chooses); classes[k] is the label value of component k
    (classes[0] = 0, background).

    labels: a 2D or 3D non-negative integer (or bool) array. Empty arrays have no component.
    """
    components, n = _components(labels, connectivity)
    classes = np.zeros(n + 1, np.int64)
    if n:
        labels = np.asarray(labels)
        inside = labels != 0
        classes[components[inside]] = labels[inside]  # one value per component: any voxel of it says which
    return components, classes


def _line(mask: np.ndarray, axis: int) -> np.ndarray:
    """Dilation by 3 voxels along one axis."""
    out = mask.copy()
    ahead = [slice(None)] * mask.ndim
    behind = [slice(None)] * mask.ndim
    ahead[axis], behind[axis] = slice(1, None), slice(None, -1)
    out[tuple(ahead)] |= mask[tuple(behind)]
    out[tuple(behind)] |= mask[tuple(ahead)]
    return out


def _dilate_once(mask: np.ndarray) -> np.ndarray:
    if mask.ndim == 2:  # the 3x3 square: two lines
        return _line(_line(mask, 0), 1)
    # 18 neighbours = the union of the three axis-aligned 3x3 squares through the voxel
    x, y, z = (_line(mask, a) for a in range(3))
    return _line(y, 0) | _line(z, 1) | _line(x, 2)


def dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Binary dilation of a 2D or 3D mask (see the module rules); works on the bounding box of
    the mask grown by ``iterations`` voxels, so cost follows the mask, not the image."""
    mask = np.asarray(mask, dtype=bool)
    if iterations <= 0 or not mask.any():
        return mask.copy()
    bounds = []
    for axis in range(mask.ndim):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        bounds.append(slice(max(int(present[0]) - iterations, 0), int(present[-1]) + iterations + 1))
    box = tuple(bounds)
    part = mask[box]
    for _ in range(iterations):
        part = _dilate_once(part)
    out = np.zeros_like(mask)
    out[box] = part
    return out


def lesion_counts(gt: np.ndarray, pred: np.ndarray, *, dilation: int = 0, connectivity: str = "full",
                  voxel_volume: float = 1.0, min_volume: float = 0.0) -> dict:
    """Lesion-wise counts of one class (see the module rules).

    gt, pred: binary masks of one shape. voxel_volume: mm3 per voxel (1 = count voxels);
    min_volume: lesions of volume <= this are left out (0 keeps every lesion).
    Returns n_lesions (kept), n_detected (kept lesions with a matched component), n_fp
    (predicted components matched to no lesion), n_small (lesions left out) and dice_sum (Σ
    Dice of the kept lesions); lesion-wise Dice = dice_sum / (n_lesions + n_fp).
    """
    gt, pred = np.asarray(gt, dtype=bool), np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: {gt.shape} vs {pred.shape}")
    reach = dilate(gt, dilation) if dilation > 0 else gt
    lesions, n_lesions = _components(reach, connectivity)  # merged lesions: the components of the dilation
    parts, n_parts = _components(pred, connectivity)
    lesion_of_gt = lesions[gt].astype(np.int64)
    size = np.bincount(lesion_of_gt, minlength=n_lesions + 1)
    inter = np.bincount(lesions[gt & pred].astype(np.int64), minlength=n_lesions + 1)
    part_size = np.bincount(parts.ravel().astype(np.int64), minlength=n_parts + 1)
    touching = reach & pred
    pairs = np.unique(lesions[touching].astype(np.int64) * (n_parts + 1) + parts[touching].astype(np.int64))
    pair_lesion, pair_part = pairs // (n_parts + 1), pairs % (n_parts + 1)
    union = np.bincount(pair_lesion, weights=part_size[pair_part], minlength=n_lesions + 1)
    matched = np.bincount(pair_lesion, minlength=n_lesions + 1) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(size > 0, 2 * inter / (size + union), 0.0)
    kept = np.zeros(n_lesions + 1, dtype=bool)
    kept[1:] = size[1:] * float(voxel_volume) > float(min_volume)
    n_fp = n_parts - len(np.unique(pair_part))
    return {"n_lesions": int(kept.sum()), "n_detected": int((kept & matched).sum()), "n_fp": int(n_fp),
            "n_small": int(n_lesions - kept.sum()), "dice_sum": float(dice[kept].sum())}
