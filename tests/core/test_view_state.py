"""The view states without Qt: JSON round trips, validation naming the field, migration."""

import json
import sys

import pytest

from maml_gui.view import (
    ComparisonState, FunctionState, LandscapeState, PlaybackState, ViewStateError, WindowState,
    migrate_view,
)
from maml_gui.view.state import VIEW_VERSION

STATES = [
    LandscapeState(surface="task:1", log_scale=True, plane="random", plane_seed=4,
                   range=[-1, 2, 0.5, 3], selected_task=1, arrows=False),
    FunctionState(task=2, support_points=7, draw=3, steps=[0, 3], view_steps=4, baseline=True,
                  baseline_steps=250),
    ComparisonState(variants=[["maml", ""], ["fomaml", "inner_lr=0.05"]],
                    layout="small multiples", target=0.01),
    PlaybackState(speed="full", order="one_by_one"),
]


def test_view_states_import_no_qt():
    import subprocess

    code = ("import sys, maml_gui.view, maml_gui.runtime.session_file as s; "
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("state", STATES, ids=lambda s: type(s).__name__)
def test_every_state_survives_a_json_round_trip(state):
    text = json.dumps(state.to_json())
    back = type(state).from_json(json.loads(text))
    assert back == state and back.to_json() == state.to_json()
    assert back != type(state)()  # the values were kept, not defaults


def test_window_state_round_trip_keeps_every_part():
    window = WindowState("compare", *STATES)
    back = WindowState.from_json(json.loads(json.dumps(window.to_json())))
    assert back == window
    assert back.landscape.range == [-1.0, 2.0, 0.5, 3.0] and back.playback.speed == "full"
    assert back.comparison.variants[1] == ["fomaml", "inner_lr=0.05"]


@pytest.mark.parametrize("cls, values, words", [
    (LandscapeState, {"range": [1, 0, 0, 1]}, "landscape.range = [1, 0, 0, 1]: must be [xmin"),
    (LandscapeState, {"surface": "tasks"}, "landscape.surface = 'tasks'"),
    (LandscapeState, {"plane": "diagonal"}, "landscape.plane = 'diagonal': must be one of pca, "
                                            "random, axes"),
    (LandscapeState, {"log_scale": "yes"}, "landscape.log_scale = 'yes': must be true or false"),
    (LandscapeState, {"selected_task": -1}, "landscape.selected_task = -1: must be an integer ≥ 0"),
    (LandscapeState, {"zoom": 2}, "landscape.zoom: unknown setting"),
    (FunctionState, {"support_points": 0}, "function.support_points = 0: must be an integer ≥ 1"),
    (FunctionState, {"steps": [1, 2.5]}, "function.steps = [1, 2.5]"),
    (FunctionState, {"view_steps": 0}, "function.view_steps = 0: must be an integer ≥ 1 and "
                                       "≤ 100, or null"),
    (FunctionState, {"draw": -1}, "function.draw = -1"),
    (FunctionState, {"baseline": 1}, "function.baseline = 1: must be true or false"),
    (ComparisonState, {"layout": "grid"}, "comparison.layout = 'grid'"),
    (ComparisonState, {"variants": [["maml"]]}, "comparison.variants = [['maml']]"),
    (PlaybackState, {"speed": 0}, "playback.speed = 0: must be a number of frames per second"),
    (PlaybackState, {"speed": float("nan")}, "playback.speed = nan"),
    (PlaybackState, {"order": "sideways"}, "playback.order = 'sideways'"),
])
def test_invalid_values_are_refused_naming_the_field_and_the_value(cls, values, words):
    with pytest.raises(ViewStateError) as caught:
        cls.from_json(values)
    assert words in str(caught.value)
    with pytest.raises(ViewStateError):
        cls().replace(**values)


def test_states_are_immutable_and_replace_validates():
    state = LandscapeState()
    with pytest.raises(AttributeError):
        state.surface = "mean"
    changed = state.replace(surface="mean")
    assert changed.surface == "mean" and state.surface is None


def test_log_scale_defaults_to_log_for_models_with_many_parameters():
    assert LandscapeState().log_scale_for(2) is False
    assert LandscapeState().log_scale_for(1761) is True
    assert LandscapeState(log_scale=False).log_scale_for(1761) is False


def test_a_session_view_written_before_the_view_states_still_opens():
    old = {"surface": "task:1", "log_scale": True, "plane": "axes", "range": [0, 1, 0, 2],
           "speed": 3, "order": "together", "tab": "compare",
           "compare": [["maml", ""], ["reptile", "outer_lr=0.2"]], "compare_layout": "overlay"}
    view = WindowState.from_json(old)
    assert view.tab == "compare"
    assert (view.landscape.surface, view.landscape.log_scale, view.landscape.plane,
            view.landscape.range) == ("task:1", True, "axes", [0.0, 1.0, 0.0, 2.0])
    assert (view.playback.speed, view.playback.order) == (3.0, "together")
    assert view.comparison.variants == [["maml", ""], ["reptile", "outer_lr=0.2"]]
    assert migrate_view(view.to_json()) == view.to_json()  # current views pass unchanged
    with pytest.raises(ViewStateError, match="view.zoom: unknown"):
        WindowState.from_json({"surface": "meta", "zoom": 3})
    with pytest.raises(ViewStateError, match=r"view.landscape.range"):
        WindowState.from_json({"range": [2, 1, 0, 1]})  # migrated, then validated
    with pytest.raises(ViewStateError, match="newer maml-gui"):
        WindowState.from_json({"version": 9})


def test_an_old_session_file_opens(tmp_path):
    from maml_gui.runtime.session_file import read_session

    path = tmp_path / "old.json"
    path.write_text(json.dumps({
        "format": "maml-gui-session", "schema_version": 1, "config": {"algorithm": "reptile"},
        "view": {"surface": "mean", "log_scale": False, "plane": "pca", "range": [0, 1, 0, 1],
                 "speed": "full", "order": "auto", "tab": "landscape", "compare": [],
                 "compare_layout": "small multiples"}}))
    session = read_session(path)
    assert session.config.algorithm == "reptile"
    assert session.view.landscape.surface == "mean" and session.view.playback.speed == "full"
    assert session.view.comparison.layout == "small multiples"
    assert session.to_json()["view"]["version"] == VIEW_VERSION


def test_every_preset_view_is_valid():
    from maml_gui.presets import load_preset, preset_names

    for name in preset_names():
        view = load_preset(name).view
        assert WindowState.from_json(json.loads(json.dumps(view.to_json()))) == view


def test_a_version_2_view_keeps_only_the_function_views_task():
    """Version-2 sessions wrote the function part's other fields with defaults the window
    never showed (baseline true while its box was off): only the task is read from them."""
    old = {"version": 2, "tab": "landscape", "landscape": {"surface": "mean"},
           "function": {"task": 3, "support_points": None, "steps": [1, 5, 10], "baseline": True}}
    view = WindowState.from_json(old)
    assert view.function == FunctionState(task=3)
    assert view.function.baseline is False and view.landscape.surface == "mean"
    assert view.to_json()["version"] == VIEW_VERSION == 3
    current = WindowState(function=FunctionState(task=1, baseline=True)).to_json()
    assert WindowState.from_json(current).function.baseline is True  # version 3 is read as is
