"""The memory budget: configs that validate one setting at a time but need tens of gigabytes
together are refused before anything is allocated, naming the largest term and the setting
that shrinks it; everything shipped fits."""

from __future__ import annotations

import pytest

from maml_gui.core.budget import (
    BUDGET_ENV, GB, check_budget, landscape_term, memory_budget, record_bytes, trace_term,
    training_terms,
)
from maml_gui.core.config import ConfigError, make_config
from maml_gui.presets import load_preset, preset_names

MLP_16x1024 = {"family": "sinusoid", "hidden": [1024] * 16}


@pytest.fixture(autouse=True)
def fixed_budget(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "8")


@pytest.mark.parametrize("settings, setting, words", [
    ({"task": {"family": "quadratic", "dim": 512, "n_tasks": 1000}}, "task.n_tasks",
     "the tasks' matrices (1,000 tasks × 512² numbers)"),
    ({"task": {"family": "sinusoid", "n_tasks": 10_000, "k_shot": 10_000}}, "task.k_shot",
     "the activations"),
    ({"task": MLP_16x1024}, "task.n_tasks", None),  # the older size rule says it first
])
def test_configs_that_cannot_fit_are_refused_when_made(settings, setting, words):
    with pytest.raises(ConfigError) as caught:
        make_config(settings)
    message = str(caught.value)
    assert caught.value.field == setting and "\n" not in message
    if words:
        assert words in message and "budget" in message


def test_the_trace_of_a_big_mlp_is_counted():
    config = make_config({"task": {**MLP_16x1024, "n_tasks": 1}, "steps": 100,
                          "record_paths": "full"})  # the default (auto) stores none for it
    numbers = 1 * config_dim(config) * 3  # paths θ, φ¹ and the meta-gradient
    assert record_bytes(config) == numbers * 8
    with pytest.raises(ConfigError, match="record_paths.*NPZ trace assembled in memory"):
        check_budget(training_terms(config) + [trace_term(config, "npz", config.steps)])
    thin = config.with_changes({"record_paths": "none"})
    assert trace_term(thin, "npz", 100).bytes == trace_term(config, "npz", 100).bytes // 3


def config_dim(config) -> int:
    from maml_gui.core.tasks import make_family

    return make_family(config.task).param_dim


def test_a_2048_landscape_of_the_mlp_is_refused_and_a_small_one_fits():
    config = make_config({"task": {"family": "sinusoid"}})
    with pytest.raises(ConfigError, match=r"--grid = 2048.*2048² points × 1,761 parameters"):
        check_budget([landscape_term(config, 2048, plane=True)])
    check_budget([landscape_term(config, 256, plane=True)])
    check_budget([landscape_term(make_config({}), 2048, plane=False)])


def test_every_preset_fits_with_its_trace():
    for name in preset_names():
        config = load_preset(name).config
        check_budget(training_terms(config) + [trace_term(config, "npz", config.steps)],
                     budget=8 * GB)


def test_the_budget_can_be_raised(monkeypatch):
    settings = {"task": {"family": "quadratic", "dim": 512, "n_tasks": 1000}}
    monkeypatch.setenv(BUDGET_ENV, "64")
    assert memory_budget() == 64 * GB
    assert make_config(settings).task["n_tasks"] == 1000
    monkeypatch.setenv(BUDGET_ENV, "nonsense")
    assert 0 < memory_budget() <= 8 * GB


def test_cli_refuses_before_training(tmp_path, capsys):
    from maml_gui.cli import main

    out = tmp_path / "t.npz"
    code = main(["run", "--set", "task.family=sinusoid", "--set", "task.n_tasks=10000",
                 "--set", "task.k_shot=10000", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "task.k_shot" in err
    assert list(tmp_path.iterdir()) == []
