"""Surface elements on the voxel-corner grid, as DeepMind's surface-distance defines them (numpy only).

A corner point of the grid sits where 2×2 (2D) or 2×2×2 (3D) voxels meet; its
*neighbour code* has one bit per voxel of that block (bit ``2**(2**d - 1 - k)``
for the voxel at offset k in row-major order of the block), voxels outside the
image counting as background. Every corner whose code is neither 0 nor all ones
carries a surface element ("surfel") of the mask; its size in mm (2D: contour
length; 3D: area in mm²) depends on the code and the voxel spacing:

- 2D (marching squares): the contour joins midpoints of the block's edges; a
  segment across a corner is ½·√(s0² + s1²) long, one across the block s0 or s1;
  a saddle (diagonal corners) has two corner segments.
- 3D (marching cubes): the surface of the block is made of polygons whose
  vertices are midpoints of edges between an inside and an outside voxel. A code
  with more than four inside voxels has the surface of its complement. On a face
  with two diagonal inside voxels the polygons keep those voxels apart. Each
  polygon is cut into triangles fanning from one vertex, and the area is the sum
  of the triangle areas after scaling each axis by its spacing. Planar polygons
  give one area whatever the fan; for the two non-planar ones the fan vertex is
  the one DeepMind's tables imply: for a pentagon (three inside voxels in an L)
  a vertex on an end voxel's edge across the L's plane, for a bent hexagon
  (four inside voxels in a chain) a vertex on an end voxel's edge parallel to
  the chain's far link. tests/test_boundary_reference.py checks the table of
  every code against surface-distance's own for random spacings.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

import numpy as np


@lru_cache(maxsize=None)
def corner_bit(offset: tuple[int, ...]) -> int:
    """The code bit of the voxel at ``offset`` (0/1 per axis) in a corner's block."""
    d = len(offset)
    index = 0
    for o in offset:
        index = 2 * index + o
    return 1 << (2 ** d - 1 - index)


def neighbour_codes(mask: np.ndarray) -> np.ndarray:
    """The neighbour code of every corner point: shape ``mask.shape + 1`` per axis, uint8.

    Corner i (per axis) lies between voxels i - 1 and i; voxels outside count as background.
    Built one axis at a time, last axis first: the code of a corner is the code of its lower
    half-block shifted above the code of its upper half-block, so the voxel at block offset k
    (row-major) lands on bit 2**d - 1 - k, as corner_bit says.
    """
    mask = np.asarray(mask, dtype=bool)
    codes = np.zeros(tuple(n + 2 for n in mask.shape), dtype=np.uint8)
    codes[(slice(1, -1),) * mask.ndim] = mask
    width = 1
    for axis in reversed(range(codes.ndim)):
        lower = codes[(slice(None),) * axis + (slice(None, -1),)]
        upper = codes[(slice(None),) * axis + (slice(1, None),)]
        codes = np.multiply(lower, np.uint8(1 << width))  # a shift: numpy's uint8 multiply is ~5x faster
        codes |= upper
        width *= 2
    return codes


def _inside(code: int, corner: tuple[int, ...]) -> bool:
    return bool(code & corner_bit(corner))


def _neighbours(corner):
    for axis in range(len(corner)):
        other = list(corner)
        other[axis] = 1 - other[axis]
        yield axis, tuple(other)


def _polygons(code: int):
    """The surface polygons of a 3D block: lists of edges (inside corner, outside corner), in cycle order."""
    links: dict = {}
    for axis, value in itertools.product(range(3), (0, 1)):
        a, b = (x for x in range(3) if x != axis)

        def corner(p, q):
            c = [0, 0, 0]
            c[axis], c[a], c[b] = value, p, q  # noqa: B023 (corner is called in this iteration only)
            return tuple(c)

        ring = [corner(0, 0), corner(1, 0), corner(1, 1), corner(0, 1)]
        sides = [(ring[i], ring[(i + 1) % 4]) for i in range(4)]
        crossing = [i for i, (u, v) in enumerate(sides) if _inside(code, u) != _inside(code, v)]
        if len(crossing) == 2:
            pairs = [tuple(crossing)]
        elif len(crossing) == 4:  # diagonal inside voxels: cut around each of them
            pairs = [((i - 1) % 4, i) for i in range(4) if _inside(code, ring[i])]
        else:
            pairs = []
        for i, j in pairs:
            e, f = (tuple(sorted(sides[k], key=lambda c: not _inside(code, c))) for k in (i, j))
            links.setdefault(e, []).append(f)
            links.setdefault(f, []).append(e)
    seen, out = set(), []
    for start in links:
        if start in seen:
            continue
        cycle, previous, current = [start], None, start
        seen.add(start)
        while True:
            following = [e for e in links[current] if e != previous and e not in seen]
            if not following:
                break
            previous, current = current, following[0]
            cycle.append(current)
            seen.add(current)
        out.append(cycle)
    return out


def _fan_vertex(code: int, cycle) -> int:
    """Index of the fan's apex in ``cycle`` (see the module docstring); 0 for planar polygons."""
    def kind(edge):
        inside, outside = edge
        axis = next(i for i in range(3) if inside[i] != outside[i])
        near = [c for _, c in _neighbours(inside) if _inside(code, c)]
        if len(near) != 1:
            return None
        far = {ax for ax, c in _neighbours(near[0]) if c != inside and _inside(code, c)}
        return "parallel" if axis in far else "across"

    wanted = {5: "across", 6: "parallel"}.get(len(cycle))
    if wanted is None:
        return 0
    return next(i for i, edge in enumerate(cycle) if kind(edge) == wanted)


@lru_cache(maxsize=1)
def _triangle_normals_3d() -> tuple[np.ndarray, np.ndarray]:
    """(codes of each triangle, its area vector in voxel units: half the cross product of two sides)."""
    codes: list[int] = []
    corners: Any = []  # the triangles' corners (a list), then their array
    for code in range(256):
        folded = 255 - code if bin(code).count("1") > 4 else code
        for cycle in _polygons(folded):
            points = [tuple((u + v) / 2.0 for u, v in zip(*edge)) for edge in cycle]
            apex = _fan_vertex(folded, cycle)
            points = points[apex:] + points[:apex]
            for i in range(1, len(points) - 1):
                codes.append(code)
                corners.append((points[0], points[i], points[i + 1]))
    corners = np.asarray(corners)  # (triangles, 3 vertices, 3 axes)
    normals = 0.5 * np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return np.asarray(codes), normals


def _segments_2d(code: int):
    """Marching-squares segments of a 2D block as pairs of edge midpoints."""
    ring = [(0, 0), (0, 1), (1, 1), (1, 0)]
    sides = [(ring[i], ring[(i + 1) % 4]) for i in range(4)]
    crossing = [i for i, (u, v) in enumerate(sides) if _inside(code, u) != _inside(code, v)]
    if len(crossing) == 2:
        pairs = [tuple(crossing)]
    elif len(crossing) == 4:
        pairs = [((i - 1) % 4, i) for i in range(4) if _inside(code, ring[i])]
    else:
        pairs = []
    return [tuple(np.add(*sides[k]) / 2.0 for k in pair) for pair in pairs]


def surfel_sizes(spacing_mm) -> np.ndarray:
    """Size of the surfel of every neighbour code (2D: length in mm, 16 codes; 3D: area in mm², 256)."""
    spacing = tuple(float(s) for s in spacing_mm)
    return _surfel_sizes(spacing).copy()


@lru_cache(maxsize=16)
def _surfel_sizes(spacing: tuple[float, ...]) -> np.ndarray:
    if len(spacing) == 2:
        out = np.zeros(16)
        for code in range(16):
            out[code] = sum(float(np.linalg.norm((np.subtract(p, q)) * spacing)) for p, q in _segments_2d(code))
        return out
    if len(spacing) != 3:
        raise ValueError("surfels are defined in 2D and 3D")
    s0, s1, s2 = spacing
    codes, normals = _triangle_normals_3d()
    areas = np.linalg.norm(normals * np.array([s1 * s2, s0 * s2, s0 * s1]), axis=1)
    out = np.zeros(256)
    np.add.at(out, codes, areas)
    return out
