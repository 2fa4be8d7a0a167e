"""What each view shows, as Qt-free state objects described by field tables.

The window's widgets, the session files and every export read and write these objects; the
widgets subscribe through :mod:`maml_gui.runtime.view_model` (the only Qt part). Imports
point one way: widgets → runtime / export → view → core.
"""

from maml_gui.view.fields import ViewField, ViewStateError
from maml_gui.view.state import (
    MAX_PLANE_SEED, ComparisonState, FunctionState, LandscapeState, PlaybackState, ViewState,
    WindowState, migrate_view,
)

__all__ = ["MAX_PLANE_SEED", "ComparisonState", "FunctionState", "LandscapeState", "PlaybackState", "ViewField",
           "ViewState", "ViewStateError", "WindowState", "migrate_view"]
