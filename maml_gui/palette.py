"""The one palette: landscape colour map, a colour per task and per algorithm, two themes.

Plain hex strings (no Qt), so the window and every export draw with the same colours.
Task and algorithm colours follow Okabe & Ito's colour-blind-safe set.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

LANDSCAPE_COLORMAP = "viridis"

# Okabe–Ito, reordered so the first tasks contrast well on viridis (dark purple → yellow);
# white is kept for θ's trail. Every path is also drawn over a dark outline.
_TASK_COLOURS = ("#E69F00", "#56B4E9", "#CC79A7", "#009E73", "#F0E442", "#D55E00", "#0072B2",
                 "#BBBBBB")
# For print (white background) the light entries darken.
_TASK_COLOURS_PRINT = ("#E69F00", "#56B4E9", "#CC79A7", "#009E73", "#B8A800", "#D55E00",
                       "#0072B2", "#555555")

ALGORITHM_COLOURS = {
    "maml": "#D55E00",  # the article's red
    "fomaml": "#0072B2",  # blue
    "reptile": "#E69F00",  # yellow-orange
    "imaml": "#CC79A7",  # pink
    "tr_maml": "#009E73",  # green
    "pretrain": "#7F7F7F",  # grey
    "tree_maml": "#56B4E9",  # sky blue
    "b_small": "#8C564B",  # brown
    "metanas": "#9467BD",  # purple
}


def task_colour(index: int, *, print_theme: bool = False) -> str:
    """A distinct colour for task ``index``; beyond eight, evenly spread hues."""
    base = _TASK_COLOURS_PRINT if print_theme else _TASK_COLOURS
    if index < len(base):
        return base[index]
    hue = (index * 0.61803398875) % 1.0  # golden-ratio steps keep neighbours apart
    r, g, b = colorsys.hls_to_rgb(hue, 0.45 if print_theme else 0.65, 0.85)
    return "#{:02X}{:02X}{:02X}".format(int(r * 255), int(g * 255), int(b * 255))


def algorithm_colour(name: str, variant: int = 0) -> str:
    """The algorithm's colour; variants (same algorithm, other settings) get lighter shades."""
    colour = ALGORITHM_COLOURS.get(name, "#444444")
    if variant == 0:
        return colour
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    h, l, s = colorsys.rgb_to_hls(r, g, b)
    l = min(0.85, l + 0.15 * variant) if variant % 2 else max(0.2, l - 0.12 * variant)
    r, g, b = colorsys.hls_to_rgb(h, l, s)
    return "#{:02X}{:02X}{:02X}".format(int(r * 255), int(g * 255), int(b * 255))


@dataclass(frozen=True)
class Theme:
    """Colours of everything that is not data: screen (dark) or publication (light)."""

    name: str
    background: str
    foreground: str  # axes, text
    trail: str  # the meta-trajectory of θ
    theta: str  # the current θ handle
    aggregate: str  # the aggregate meta-gradient arrow
    contour: str
    outline: str  # drawn under paths so they stay visible on any heatmap colour
    print_theme: bool

    def task(self, index: int) -> str:
        return task_colour(index, print_theme=self.print_theme)


SCREEN = Theme("screen", background="#1E1E1E", foreground="#DDDDDD", trail="#FFFFFF",
               theta="#FFFFFF", aggregate="#FF4040", contour="#FFFFFF", outline="#000000",
               print_theme=False)
PUBLICATION = Theme("publication", background="#FFFFFF", foreground="#000000", trail="#000000",
                    theta="#000000", aggregate="#C00000", contour="#FFFFFF", outline="#FFFFFF",
                    print_theme=True)
