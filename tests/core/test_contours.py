"""Contour levels and marching-squares segments against closed forms and a per-cell reference."""

from __future__ import annotations

import time
import warnings
from collections import Counter

import numpy as np
import pytest

from maml_gui.core.contours import contour_levels, contour_segments

UNIFORM = np.linspace(-2.0, 2.0, 101)
# Strictly increasing, spacing from 0.065 in the middle down to 0.029 at the ends: an
# implementation interpolating in index space instead of data space fails on it.
STRETCHED = 2.0 * np.sinh(np.linspace(-1.5, 1.5, 101)) / np.sinh(1.5)
GRIDS = pytest.mark.parametrize("grid", [UNIFORM, STRETCHED], ids=["uniform", "stretched"])


def _segments(points):
    """(S, 2, 2): the two ends of each segment."""
    return points.reshape(-1, 2, 2)


def _lengths(points):
    seg = _segments(points)
    return np.hypot(*(seg[:, 1] - seg[:, 0]).T)


def _segment_keys(points, level_index, decimals=9):
    """Segments as order-independent hashable keys, for comparing two implementations."""
    keys = []
    for (p, q), k in zip(_segments(np.round(points, decimals)), level_index):
        keys.append((int(k),) + tuple(sorted([tuple(p), tuple(q)])))
    return Counter(keys)


def _reference(x, y, z, levels):
    """Marching squares one cell at a time, written independently of the tables under test."""
    points, owners, saddles = [], [], 0
    for k, level in enumerate(levels):
        for r in range(len(y) - 1):
            for c in range(len(x) - 1):
                corners = [(r, c), (r, c + 1), (r + 1, c + 1), (r + 1, c)]  # a b c d
                vals = [z[p] for p in corners]
                if not np.all(np.isfinite(vals)):
                    continue
                inside = [v > level for v in vals]
                crossing = {}
                for e, (i, j) in enumerate([(0, 1), (1, 2), (3, 2), (0, 3)]):
                    if inside[i] != inside[j]:
                        (ri, ci), (rj, cj) = corners[i], corners[j]
                        t = (level - vals[i]) / (vals[j] - vals[i])
                        crossing[e] = (x[ci] + t * (x[cj] - x[ci]), y[ri] + t * (y[rj] - y[ri]))
                if len(crossing) == 2:
                    pairs = [tuple(crossing)]
                elif len(crossing) == 4:
                    saddles += 1
                    # The centre on a's side joins a to c, which cuts off b and d.
                    if (sum(vals) / 4 > level) == inside[0]:
                        pairs = [(0, 1), (2, 3)]
                    else:
                        pairs = [(0, 3), (1, 2)]
                else:
                    pairs = []
                for e0, e1 in pairs:
                    points += [crossing[e0], crossing[e1]]
                    owners.append(k)
    return np.array(points).reshape(-1, 2), np.array(owners, dtype=int), saddles


def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _intersect(p, q):
    """Whether segments p and q (each (2, 2)) touch or cross."""
    d1, d2 = _cross(q[0], q[1], p[0]), _cross(q[0], q[1], p[1])
    d3, d4 = _cross(p[0], p[1], q[0]), _cross(p[0], p[1], q[1])
    return d1 * d2 <= 0 and d3 * d4 <= 0


# --- closed forms -------------------------------------------------------------------------

@GRIDS
def test_circle_endpoints_lie_on_the_level_set(grid):
    x = y = grid
    z = x[None, :] ** 2 + y[:, None] ** 2
    levels = np.array([0.3, 1.0, 2.5])
    points, level_index = contour_segments(x, y, z, levels)
    assert points.shape == (2 * level_index.size, 2)
    assert set(level_index) == {0, 1, 2}
    # Along an edge of length h, z is a parabola with second derivative 2, so the linear
    # interpolant overestimates it by (s - s0)(s1 - s) <= h²/4: every endpoint satisfies
    # level - h²/4 <= z(p) <= level. Midpoints of edges, or interpolation in index space on
    # the stretched grid, miss this by orders of magnitude.
    h = np.diff(grid).max()
    gap = levels[np.repeat(level_index, 2)] - (points ** 2).sum(axis=1)
    assert gap.min() >= -1e-12
    assert gap.max() <= h ** 2 / 4
    radius = np.hypot(*points.T)
    np.testing.assert_allclose(radius, np.sqrt(levels[np.repeat(level_index, 2)]), atol=h ** 2)


@GRIDS
def test_circle_length_approximates_the_circumference(grid):
    z = grid[None, :] ** 2 + grid[:, None] ** 2
    levels = np.array([0.3, 1.0, 2.5])
    points, level_index = contour_segments(grid, grid, z, levels)
    total = np.bincount(level_index, weights=_lengths(points), minlength=levels.size)
    np.testing.assert_allclose(total, 2 * np.pi * np.sqrt(levels), rtol=0.01)


@GRIDS
def test_closed_contours_meet_exactly(grid):
    # Neighbouring cells must compute bitwise-identical points on their shared edge, so a
    # closed curve visits every endpoint exactly twice (once per adjacent segment).
    z = grid[None, :] ** 2 + grid[:, None] ** 2
    points, level_index = contour_segments(grid, grid, z, np.array([0.3, 1.0, 2.5]))
    for k in range(3):
        ends = points.reshape(-1, 2, 2)[level_index == k].reshape(-1, 2)
        counts = Counter(map(tuple, ends))
        assert set(counts.values()) == {2}


def test_linear_ramp_gives_vertical_lines_at_the_level():
    x = STRETCHED
    y = np.linspace(-1.0, 3.0, 17)
    z = np.broadcast_to(x, (y.size, x.size))
    levels = np.array([-0.5, 0.1234, 1.7])
    points, level_index = contour_segments(x, y, z, levels)
    seg = _segments(points)
    for k, level in enumerate(levels):
        mine = seg[level_index == k]
        assert len(mine) == y.size - 1  # one segment per row of cells
        np.testing.assert_allclose(mine[:, :, 0], level, atol=1e-12)
        ys = np.sort(mine[:, :, 1], axis=1)
        np.testing.assert_array_equal(np.sort(ys[:, 0]), y[:-1])
        np.testing.assert_array_equal(np.sort(ys[:, 1]), y[1:])


def test_level_index_follows_the_order_of_levels_given():
    z = UNIFORM[None, :] ** 2 + UNIFORM[:, None] ** 2
    levels = np.array([2.5, 0.3, 1.0])  # unsorted on purpose
    points, level_index = contour_segments(UNIFORM, UNIFORM, z, levels)
    radius = np.hypot(*points.T)
    np.testing.assert_allclose(radius, np.sqrt(levels[np.repeat(level_index, 2)]), atol=1e-3)
    assert np.all(np.diff(level_index) >= 0)  # grouped by level, in the given order
    assert level_index.dtype.kind == "i"


# --- special cells ------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_cells_touching_a_non_finite_value_give_no_segment(bad):
    x = np.arange(12.0)
    y = np.arange(9.0)
    z = np.broadcast_to(x, (y.size, x.size)).copy()
    z[5, 7] = bad
    level = 7.5  # crosses the column of cells 7, whose rows 4 and 5 touch z[5, 7]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        points, level_index = contour_segments(x, y, z, np.array([level]))
    assert np.all(np.isfinite(points))
    seg = _segments(points)
    assert len(seg) == y.size - 1 - 2
    np.testing.assert_allclose(seg[:, :, 0], level)
    mid_y = seg[:, :, 1].mean(axis=1)
    assert not np.any((mid_y > 4) & (mid_y < 6))


def test_all_nan_grid_gives_nothing():
    points, level_index = contour_segments(np.arange(3.0), np.arange(4.0),
                                           np.full((4, 3), np.nan), np.array([0.0]))
    assert points.shape == (0, 2) and level_index.shape == (0,)


# z on the 2x2 grid (rows y0, y1) -> corners a = z[0, 0], b = z[0, 1], c = z[1, 1], d = z[1, 0].
SADDLES = [
    # case 5 (a, c inside) with the centre inside: a joins c, b and d are cut off
    ([[1.0, 0.0], [0.0, 2.0]], 0.5, "bd"),
    # case 5 with the centre (0.75) outside: a and c are cut off
    ([[1.0, 0.0], [0.0, 2.0]], 0.9, "ac"),
    # case 10 (b, d inside) with the centre inside: b joins d, a and c are cut off
    ([[0.0, 1.0], [2.0, 0.0]], 0.5, "ac"),
    # case 10 with the centre outside: b and d are cut off
    ([[0.0, 1.0], [2.0, 0.0]], 0.9, "bd"),
]


@pytest.mark.parametrize(("z", "level", "cut_off"), SADDLES)
def test_saddle_cells_follow_the_centre_value(z, level, cut_off):
    x = np.array([0.0, 3.0])
    y = np.array([10.0, 11.0])
    points, level_index = contour_segments(x, y, np.array(z), np.array([level]))
    seg = _segments(points)
    assert len(seg) == 2
    assert not _intersect(seg[0], seg[1])
    # A segment cutting off a corner has its ends on the two edges meeting at that corner.
    corner = {"a": (x[0], y[0]), "b": (x[1], y[0]), "c": (x[1], y[1]), "d": (x[0], y[1])}
    got = set()
    for s in seg:
        for name in cut_off:
            cx, cy = corner[name]
            on_vertical = np.isclose(s[:, 0], cx)
            on_horizontal = np.isclose(s[:, 1], cy)
            if (on_vertical[0] and on_horizontal[1]) or (on_vertical[1] and on_horizontal[0]):
                got.add(name)
    assert got == set(cut_off)


def test_random_fields_match_a_per_cell_reference():
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.uniform(0.2, 1.5, 14))
    y = np.cumsum(rng.uniform(0.2, 1.5, 11))
    z = rng.normal(size=(y.size, x.size))
    z[3, 4] = np.nan
    z[8, 10] = np.inf
    levels = np.array([0.6, -0.3, 0.0, 1.1, 5.0])
    points, level_index = contour_segments(x, y, z, levels)
    want_points, want_index, saddles = _reference(x, y, z, levels)
    assert saddles > 5  # the comparison covers both saddle resolutions often enough
    assert _segment_keys(points, level_index) == _segment_keys(want_points, want_index)


# --- levels that hit grid values ----------------------------------------------------------

def test_level_equal_to_a_column_of_values_gives_one_clean_line():
    x = STRETCHED[:30]
    y = np.linspace(0.0, 1.0, 8)
    z = np.broadcast_to(x, (y.size, x.size))
    level = x[7]
    points, level_index = contour_segments(x, y, z, np.array([level]))
    assert np.all(np.isfinite(points))
    assert len(level_index) == y.size - 1
    assert np.all(points[:, 0] == level)
    assert np.all(_lengths(points) > 0)


def test_contour_along_a_grid_line_is_not_doubled():
    # A V-shaped valley whose floor is exactly the level: both cells beside the floor trace
    # the same grid line; it must come out once.
    x = np.linspace(-1.0, 1.0, 11)
    y = np.linspace(0.0, 2.0, 6)
    z = np.broadcast_to(np.abs(x - x[4]), (y.size, x.size))
    points, level_index = contour_segments(x, y, z, np.array([0.0]))
    assert len(level_index) == y.size - 1
    np.testing.assert_array_equal(points[:, 0], x[4])
    assert len(set(map(tuple, np.sort(_segments(points), axis=1).reshape(-1, 4)))) == y.size - 1


def test_level_through_grid_points_gives_no_degenerate_segments():
    # x² + y² = 1 passes exactly through the grid points (±1, 0) and (0, ±1); the minimum
    # equals the level 0 at the origin, where only zero-length segments could arise.
    g = np.linspace(-2.0, 2.0, 41)
    z = g[None, :] ** 2 + g[:, None] ** 2
    points, level_index = contour_segments(g, g, z, np.array([0.0, 1.0]))
    assert np.all(level_index == 1)
    assert np.all(np.isfinite(points))
    assert np.all(_lengths(points) > 0)
    assert set(Counter(map(tuple, points)).values()) == {2}  # still closed
    assert Counter(map(tuple, points))[(1.0, 0.0)] == 2


@pytest.mark.parametrize("row", [1, 2, 3])
@pytest.mark.parametrize("col", [1, 2, 3])
def test_a_pit_exactly_at_the_level_gives_nothing(row, col):
    # Every cell around the pit meets the level only at the pit's grid point, once at t = 1 of
    # one edge and once at t = 0 of the next. These coordinates make a + (b - a) != b
    # (-0.1 + (0.3 + 0.1) == 0.30000000000000004), so the two must still come out equal.
    g = np.array([-0.7, -0.1, 0.3, 0.9, 1.7])
    z = 0.3 + np.abs(g[None, :] - g[col]) + np.abs(g[:, None] - g[row])
    points, level_index = contour_segments(g, g, z, np.array([0.3]))
    assert points.shape == (0, 2) and level_index.shape == (0,)


# --- shapes and input checks --------------------------------------------------------------

@pytest.mark.parametrize("levels", [np.array([-5.0, 100.0]), np.array([]), np.array([np.nan])])
def test_nothing_to_draw_gives_empty_arrays_of_the_right_shape(levels):
    z = UNIFORM[None, :] ** 2 + UNIFORM[:, None] ** 2
    points, level_index = contour_segments(UNIFORM, UNIFORM, z, levels)
    assert points.shape == (0, 2)
    assert level_index.shape == (0,)
    assert level_index.dtype.kind == "i"


def test_single_row_grid_has_no_cells():
    points, level_index = contour_segments(np.arange(5.0), np.array([0.0]),
                                           np.arange(5.0)[None, :], np.array([2.5]))
    assert points.shape == (0, 2) and level_index.shape == (0,)


@pytest.mark.parametrize(("x", "y", "z"), [
    (np.arange(3.0), np.arange(4.0), np.zeros((3, 4))),  # z transposed
    (np.array([0.0, 2.0, 1.0]), np.arange(4.0), np.zeros((4, 3))),  # x not increasing
    (np.arange(3.0), np.array([0.0, 0.0, 1.0, 2.0]), np.zeros((4, 3))),  # y repeats
])
def test_bad_grids_are_rejected(x, y, z):
    with pytest.raises(ValueError):
        contour_segments(x, y, z, np.array([0.5]))


def test_256_grid_with_12_levels_is_fast():
    g = np.linspace(-3.0, 3.0, 256)
    gx, gy = g[None, :], g[:, None]
    z = np.log1p(gx ** 2 + 3 * gy ** 2) + np.sin(3 * gx) * np.cos(2 * gy)  # a bumpy loss
    levels = contour_levels(z, 12)
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        points, _ = contour_segments(g, g, z, levels)
        best = min(best, time.perf_counter() - start)
    assert len(points) > 1000
    assert best < 0.03, f"{best * 1e3:.1f} ms"


# --- contour_levels -----------------------------------------------------------------------

def test_levels_are_sorted_and_inside_the_finite_range():
    z = np.array([[3.0, np.nan, -1.0], [np.inf, 7.0, -np.inf]])
    levels = contour_levels(z, 5)
    assert levels.shape == (5,)
    assert np.all(np.diff(levels) > 0)
    assert levels.min() > -1.0 and levels.max() < 7.0
    np.testing.assert_allclose(np.diff(levels), 8.0 / 6)  # evenly spaced


def test_log_levels_are_geometric_over_the_positive_part():
    z = np.array([-4.0, 0.0, 1e-3, 0.5, 10.0, np.nan])
    levels = contour_levels(z, 8, log=True)
    assert levels.shape == (8,)
    assert levels.min() > 1e-3 and levels.max() < 10.0
    ratios = levels[1:] / levels[:-1]
    np.testing.assert_allclose(ratios, ratios[0])
    assert ratios[0] > 1


def test_log_levels_fall_back_to_linear_without_positive_values():
    z = np.array([-5.0, -1.0, 0.0])
    np.testing.assert_array_equal(contour_levels(z, 4, log=True), contour_levels(z, 4))
    np.testing.assert_allclose(np.diff(contour_levels(z, 4, log=True)), 1.0)


@pytest.mark.parametrize("z", [
    np.full((4, 4), 2.5), np.array([1.0]), np.array([]), np.full(3, np.nan),
    np.array([np.inf, 3.0, -np.inf, np.nan]),
])
def test_degenerate_input_gives_no_levels(z):
    assert contour_levels(z).shape == (0,)
    assert contour_levels(z, log=True).shape == (0,)


def test_level_count():
    z = np.arange(10.0)
    assert contour_levels(z, 0).shape == (0,)
    assert contour_levels(z).shape == (12,)
    with pytest.raises(ValueError):
        contour_levels(z, -1)


def test_levels_feed_contour_segments():
    z = UNIFORM[None, :] ** 2 + UNIFORM[:, None] ** 2 + 1e-3
    levels = contour_levels(z, 6, log=True)
    _, level_index = contour_segments(UNIFORM, UNIFORM, z, levels)
    assert set(level_index) == set(range(6))
