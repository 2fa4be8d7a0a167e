"""Contour lines of a 2-D grid by vectorised marching squares (pure numpy, no Qt).

The result is a flat list of line segments, two points each: what one pyqtgraph curve with
``connect="pairs"`` draws and what a vector exporter writes as ``M x0 y0 L x1 y1`` pieces.
Segments are not joined into polylines because neither consumer needs it.

Conventions
-----------
A grid point is *inside* a level iff its value is strictly greater than the level. The strict
rule makes a level that equals a grid value well defined: the crossing lands exactly on that
grid point (t = 0 or 1), never produces 0/0, and the zero-length or doubled segments it can
create are removed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["contour_levels", "contour_segments"]

# Cell (r, c) has corners a = (r, c), b = (r, c+1), c = (r+1, c+1), d = (r+1, c); bit i of
# its case index is set when the i-th of a, b, c, d is inside.
_CORNER_ROW = np.array([0, 0, 1, 1])
_CORNER_COL = np.array([0, 1, 1, 0])
_CASE_WEIGHTS = np.array([1, 2, 4, 8])
# Edges 0 bottom (a-b), 1 right (b-c), 2 top (d-c), 3 left (a-d) as (row, column) offsets of
# their two ends. Each edge runs left to right or bottom to top whichever cell looks at it,
# so the two cells sharing an edge compute bitwise-identical crossings and meet exactly.
_EDGE_ROW0 = np.array([0, 0, 1, 0])
_EDGE_COL0 = np.array([0, 1, 0, 0])
_EDGE_ROW1 = np.array([0, 1, 1, 1])
_EDGE_COL1 = np.array([1, 1, 1, 0])

# The two edges crossed in each case. The saddles 5 and 10 cross all four edges and are
# resolved by the cell-centre rule in contour_segments instead.
_CASE_EDGES = np.array([
    [-1, -1],  # 0   none inside
    [0, 3],    # 1   a
    [0, 1],    # 2   b
    [3, 1],    # 3   a b
    [1, 2],    # 4   c
    [-1, -1],  # 5   a c      saddle
    [0, 2],    # 6   b c
    [3, 2],    # 7   a b c
    [2, 3],    # 8   d
    [0, 2],    # 9   a d
    [-1, -1],  # 10  b d      saddle
    [1, 2],    # 11  a b d
    [3, 1],    # 12  c d
    [0, 1],    # 13  a c d
    [0, 3],    # 14  b c d
    [-1, -1],  # 15  all inside
])
# A saddle's two segments either cut off corners b and d or cut off a and c.
_CUT_BD = np.array([[0, 1], [2, 3]])
_CUT_AC = np.array([[0, 3], [1, 2]])


def contour_levels(z: np.ndarray, count: int = 12, *, log: bool = False) -> np.ndarray:
    """Evenly spaced contour levels strictly inside the range of the finite values of ``z``.

    Parameters
    ----------
    z : ndarray
        Values of any shape; NaN and ±inf are ignored.
    count : int, default 12
        Number of levels (``>= 0``).
    log : bool, default False
        Space the levels geometrically between the smallest positive value and the maximum,
        which suits losses spanning several decades. Falls back to linear spacing when ``z``
        has fewer than two distinct positive values.

    Returns
    -------
    ndarray
        ``(count,)`` increasing levels, or ``(0,)`` when ``z`` has fewer than two distinct
        finite values.

    Notes
    -----
    The extremes themselves are excluded: a level at the minimum traces isolated points and
    one at the maximum traces nothing, so ``count`` levels are spread over the
    ``count + 2`` points of a ``linspace``/``geomspace`` without its ends.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    values = np.asarray(z, dtype=float)
    finite = values[np.isfinite(values)]
    if count == 0 or finite.size == 0:
        return np.empty(0)
    lo, hi = finite.min(), finite.max()
    if not hi > lo:
        return np.empty(0)
    if log:
        positive = finite[finite > 0]
        if positive.size and positive.min() < hi:
            return np.geomspace(positive.min(), hi, count + 2)[1:-1]
    return np.linspace(lo, hi, count + 2)[1:-1]


def contour_segments(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, levels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Contour segments of ``z`` at each level, by marching squares.

    Parameters
    ----------
    x : ndarray, shape (N,)
        Strictly increasing column coordinates (any spacing).
    y : ndarray, shape (M,)
        Strictly increasing row coordinates (any spacing).
    z : ndarray, shape (M, N)
        ``z[r, c]`` is the value at ``(x[c], y[r])``.
    levels : ndarray, shape (L,)
        Contour levels, in any order.

    Returns
    -------
    points : ndarray, shape (2 * S, 2)
        ``points[2 * s]`` and ``points[2 * s + 1]`` are the ends of segment ``s`` in data
        coordinates ``(x, y)``, linearly interpolated along the cell edges.
    level_index : ndarray, shape (S,)
        Index into ``levels`` of each segment's level; segments are grouped by level in the
        order of ``levels``.

    Raises
    ------
    ValueError
        If the shapes disagree or ``x`` or ``y`` is not strictly increasing.

    Notes
    -----
    Cells with a non-finite corner give no segment. The two ambiguous (saddle) cases are
    resolved by the mean of the four corners: if it is inside, the two inside corners are
    joined through the cell and the two outside ones are cut off, and vice versa.
    Nothing loops over cells: grid-sized work is a few comparisons per level, and everything
    after it runs on the crossed cells only.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    z = np.asarray(z, dtype=float)
    levels = np.asarray(levels, dtype=float)
    if x.ndim != 1 or y.ndim != 1 or z.shape != (y.size, x.size):
        raise ValueError(f"need x (N,), y (M,), z (M, N); got x {x.shape}, y {y.shape}, "
                         f"z {z.shape}")
    if levels.ndim != 1:
        raise ValueError(f"levels must be 1-D, got shape {levels.shape}")
    if np.any(np.diff(x) <= 0) or np.any(np.diff(y) <= 0):
        raise ValueError("x and y must be strictly increasing")
    empty = np.empty((0, 2)), np.empty(0, dtype=np.intp)
    if x.size < 2 or y.size < 2 or levels.size == 0:
        return empty

    by_value = np.argsort(levels, kind="stable")
    row, col, owner = _crossed_cells(z, levels[by_value])
    if row.size == 0:
        return empty
    owner = by_value[owner]
    # Group by level; numpy radix-sorts 16-bit keys, far faster than a comparison sort.
    key = owner.astype(np.int16) if levels.size <= np.iinfo(np.int16).max else owner
    order = np.argsort(key, kind="stable")
    row, col, owner = row[order], col[order], owner[order]

    level = levels[owner]
    values = z[row[:, None] + _CORNER_ROW, col[:, None] + _CORNER_COL]  # (K, 4)
    case = (values > level[:, None]) @ _CASE_WEIGHTS
    edges = _CASE_EDGES[case]
    saddle = (case == 5) | (case == 10)
    if saddle.any():
        # Case 5 has a and c inside, case 10 has b and d: if the centre sides with the inside
        # corners they are joined through the cell and the other two are cut off.
        centre_inside = values[saddle].mean(axis=1) > level[saddle]
        cut = np.where(((case[saddle] == 5) == centre_inside)[:, None, None], _CUT_BD, _CUT_AC)
        # A saddle cell's two segments sit side by side, so the grouping by level survives.
        copies = 1 + saddle
        row, col, owner = (np.repeat(v, copies) for v in (row, col, owner))
        edges = np.repeat(edges, copies, axis=0)
        edges[np.repeat(saddle, copies)] = cut.reshape(-1, 2)

    # Both ends of every segment at once, already interleaved as the output wants them.
    edge = edges.ravel()
    row, col, level = np.repeat(row, 2), np.repeat(col, 2), np.repeat(levels[owner], 2)
    r0, c0 = row + _EDGE_ROW0[edge], col + _EDGE_COL0[edge]
    r1, c1 = row + _EDGE_ROW1[edge], col + _EDGE_COL1[edge]
    z0, z1 = z[r0, c0], z[r1, c1]
    # Exactly one end of a crossed edge is inside (> level), so z1 != z0 and t is in [0, 1].
    t = (level - z0) / (z1 - z0)
    px, py = _lerp(x[c0], x[c1], t), _lerp(y[r0], y[r1], t)

    # A level equal to a grid value puts crossings exactly on that grid point, bitwise equal
    # whichever edge found them (see _lerp), so zero-length segments show by plain equality.
    keep = (px[0::2] != px[1::2]) | (py[0::2] != py[1::2])
    # A contour running exactly along a grid edge with inside values on both sides is traced
    # by both cells sharing that edge; keep one copy.
    at_node = (t == 0) | (t == 1)
    along_edge = np.flatnonzero(keep & at_node[0::2] & at_node[1::2])
    if along_edge.size:
        p = np.column_stack([px[0::2], py[0::2]])[along_edge]
        q = np.column_stack([px[1::2], py[1::2]])[along_edge]
        # Order the two ends lexicographically so a copy running the other way matches.
        swap = ((p[:, 0] > q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] > q[:, 1])))[:, None]
        key = np.column_stack([owner[along_edge], np.where(swap, q, p), np.where(swap, p, q)])
        _, first = np.unique(key, axis=0, return_index=True)
        duplicate = np.ones(along_edge.size, dtype=bool)
        duplicate[first] = False
        keep[along_edge[duplicate]] = False

    points = np.empty((2 * int(keep.sum()), 2))
    points[:, 0] = px.reshape(-1, 2)[keep].ravel()
    points[:, 1] = py.reshape(-1, 2)[keep].ravel()
    return points, owner[keep]


def _crossed_cells(
    z: np.ndarray, sorted_levels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (cell, level) pair with some corner of the cell inside the level and some not.

    Returns the cells' rows and columns and the levels (indices into ``sorted_levels``), one
    entry per pair, all corners of each cell finite.
    """
    # rank = how many levels lie strictly below each value. A cell crosses exactly the
    # sorted levels with index in [min rank, max rank) over its corners: one contiguous run.
    # NaN levels sort last and are never below anything, so no run reaches them.
    rank = np.zeros(z.shape, dtype=np.uint16 if sorted_levels.size < 1 << 16 else np.intp)
    for level in sorted_levels:
        rank += z > level
    corners = (np.s_[:-1, :-1], np.s_[:-1, 1:], np.s_[1:, 1:], np.s_[1:, :-1])
    low = np.minimum(np.minimum(rank[corners[0]], rank[corners[1]]),
                     np.minimum(rank[corners[2]], rank[corners[3]]))
    high = np.maximum(np.maximum(rank[corners[0]], rank[corners[1]]),
                      np.maximum(rank[corners[2]], rank[corners[3]]))
    crossed = low != high
    finite = np.isfinite(z)
    if not finite.all():
        crossed &= finite[corners[0]] & finite[corners[1]] & finite[corners[2]] & finite[corners[3]]
    row, col = np.divmod(np.flatnonzero(crossed), z.shape[1] - 1)
    first = low[row, col].astype(np.intp)
    count = high[row, col] - first
    # Expand each cell into its run of levels first, first + 1, ..., first + count - 1.
    run_start = np.cumsum(count) - count
    owner = np.repeat(first - run_start, count) + np.arange(count.sum())
    return np.repeat(row, count), np.repeat(col, count), owner


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """a + t (b - a), exact at t = 0, at t = 1 and when a == b (the form numpy's quantile uses).

    Exactness at the ends makes a crossing on a grid point identical whichever edge found it,
    so zero-length and doubled segments can be recognised by plain equality.
    """
    diff = b - a
    return np.where(t <= 0.5, a + t * diff, b - (1 - t) * diff)
