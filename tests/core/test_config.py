"""The field table: defaults, validation messages, unknown keys, files, hot/cold marking."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maml_gui.core.config import (
    FIELD_BY_NAME, FIELDS, HOT_FIELDS, Config, ConfigError, config_json, load_config_file,
    make_config,
)
from maml_gui.core.tasks import FAMILIES


def test_defaults_are_valid_and_round_trip_through_json():
    config = make_config({})
    assert config.algorithm == "maml" and config.family == "softplus"
    again = make_config(json.loads(json.dumps(config_json(config))))
    assert again == config


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_has_valid_defaults(family):
    config = make_config({"task": {"family": family}})
    assert config.task["family"] == family


@pytest.mark.parametrize("data, field, words", [
    ({"inner_lr": -0.1}, "inner_lr", ["-0.1", "≥ 0"]),
    ({"outer_lr": -1}, "outer_lr", ["-1", "≥ 0"]),
    ({"inner_steps": 0}, "inner_steps", ["0", "≥ 1"]),
    ({"inner_steps": 2.5}, "inner_steps", ["integer"]),
    ({"algorithm": "metasgd"}, "algorithm", ["metasgd", "maml", "reptile"]),
    ({"imaml_lambda": 0}, "imaml_lambda", ["> 0"]),
    ({"inner_lr": float("nan")}, "inner_lr", ["finite"]),
    ({"inner_lr": True}, "inner_lr", ["number"]),
    ({"lr": 0.1}, "lr", ["unknown setting"]),
    ({"task": {"family": "softplus", "bogus": 1}}, "task.bogus", ["unknown parameter"]),
    ({"task": {"family": "circles"}}, "task.family", ["unknown task family", "softplus"]),
    ({"task": {"family": "quadratic", "A": [[[1, 0], [0, 1], [0, 0]]]}}, "task.A[0]", ["square"]),
    ({"task": {"family": "quadratic", "A": [[[1, 2], [0, 1]]]}}, "task.A[0]", ["symmetric"]),
    ({"task": {"family": "quadratic", "A": [[[1, 0], [0, 1]]], "c": [[0, 0], [1, 1]]}},
     "task.c", ["different numbers"]),
    ({"task": {"family": "softplus", "n_tasks": 3}}, "task.n_tasks", ["2 listed optima"]),
    ({"theta0": [1, 2, 3]}, "theta0", ["2 numbers"]),
    ({"meta_batch": 5}, "meta_batch", ["larger than the 2 tasks"]),
    ({"device": "tpu"}, "device", ["cuda:N"]),
    ({"algorithm": "tr_maml", "task": {"family": "sinusoid"}}, "algorithm", ["fixed_tasks"]),
])
def test_bad_values_name_the_field_the_value_and_what_is_allowed(data, field, words):
    with pytest.raises(ConfigError) as info:
        make_config(data)
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith(field)
    for word in words:
        assert word in message


def test_hot_and_cold_fields_are_marked():
    assert {"inner_lr", "inner_steps", "outer_lr", "imaml_lambda", "cg_steps"} <= HOT_FIELDS
    assert not {"algorithm", "seed", "meta_batch", "device", "dtype"} & HOT_FIELDS
    for field in FIELDS:
        assert field.help and ("live" in field.tooltip() or "restarts" in field.tooltip())


def test_dotted_changes_and_family_switch():
    config = make_config({})
    assert config.with_changes({"task.n_points": 5}).task["n_points"] == 5
    switched = config.with_changes({"task.family": "rbf"})
    assert switched.family == "rbf" and "centres" in switched.task


def test_config_is_immutable():
    config = make_config({})
    with pytest.raises(Exception):
        config.inner_lr = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.task["n_points"] = 3  # type: ignore[index]


def test_config_files(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"algorithm": "reptile", "inner_steps": 5}))
    assert load_config_file(good).algorithm == "reptile"
    broken = tmp_path / "broken.json"
    broken.write_text('{"algorithm": "maml",')
    with pytest.raises(ConfigError, match="not valid JSON.*line 1"):
        load_config_file(broken)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ConfigError, match="newer maml-gui"):
        load_config_file(newer)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.json")
    embedded = tmp_path / "trace.json"
    embedded.write_text(json.dumps({"format": "x", "config": {"algorithm": "imaml"}}))
    assert load_config_file(embedded).algorithm == "imaml"


# --- property-based: validation accepts or raises ConfigError, never anything else ------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _field_value(name: str):
    field = FIELD_BY_NAME[name]
    plausible = json_values
    if field.choices:
        plausible = plausible | st.sampled_from(field.choices)
    if field.kind in ("float", "int"):
        low = -1e6 if field.low is None else field.low - 1
        high = 1e6 if field.high is None else field.high + 1
        plausible = plausible | st.floats(low, high) | st.integers(int(low), int(high))
    return plausible


task_values = st.fixed_dictionaries(
    {"family": st.sampled_from([*FAMILIES, "nope"])},
    optional={key: json_values | st.integers(-3, 30) | st.lists(st.floats(-5, 5), max_size=3)
              for key in ("n_tasks", "optima", "n_points", "noise", "dim", "A", "c", "centres",
                          "heights", "hidden", "k_shot", "fixed_tasks", "x_range", "condition")},
)

configs = st.fixed_dictionaries(
    {},
    optional={**{f.name: _field_value(f.name) for f in FIELDS},
              "task": task_values | json_values, "unknown_key": json_values},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_validation_accepts_or_raises_config_error_only(data):
    try:
        config = make_config(data)
    except ConfigError as exc:
        assert exc.field and str(exc)
        return
    assert isinstance(config, Config)
    for f in FIELDS:
        value = getattr(config, f.name)
        if f.kind == "float":
            assert math.isfinite(value)
            assert f.low is None or value >= f.low
            assert f.high is None or value <= f.high
