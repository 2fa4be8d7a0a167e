"""The Qt adapter of the view states: one signal per real change, validation kept."""

import pytest

from maml_gui.runtime.view_model import ViewModel
from maml_gui.view import LandscapeState, PlaybackState, ViewStateError


def test_changes_are_validated_and_signalled_with_the_changed_fields(qtbot):
    model = ViewModel(LandscapeState())
    seen = []
    model.changed.connect(lambda state, names: seen.append((state, names)))
    model.update(surface="mean", log_scale=True)
    model.update(surface="mean")  # no change: no signal
    with pytest.raises(ViewStateError, match="landscape.plane"):
        model.update(plane="diagonal")
    assert len(seen) == 1 and seen[0][1] == ["log_scale", "surface"]
    assert model.state.surface == "mean" and model.state.plane == "pca"
    with pytest.raises(TypeError):
        model.set_state(PlaybackState())
