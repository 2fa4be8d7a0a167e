"""What the function view draws, computed without Qt: the picture is the fine-tuning of the
state's points, the same for the window and the export."""

import numpy as np

from maml_gui.core.config import make_config
from maml_gui.core.function_space import fine_tune
from maml_gui.view import FunctionState
from maml_gui.view.function_data import META_LABEL, FunctionModel


def test_the_picture_is_the_fine_tuning_of_the_states_points():
    config = make_config({"inner_lr": 0.3, "inner_steps": 2, "device": "cpu"})
    model = FunctionModel(config)
    state = FunctionState(task=1, support_points=4, draw=5, steps=[1, 3], view_steps=2)
    assert model.select(state.task) and not model.select(99)
    model.apply_points(state)
    x = model.random_x(4, 5)
    np.testing.assert_array_equal(model.x_support, x)  # seeded: the same points again
    low, high = model.family.input_range()
    assert np.all((x >= low) & (x <= high)) and not np.array_equal(x, model.random_x(4, 6))
    np.testing.assert_allclose(model.y_support, model.truth_at(x))
    picture = model.picture(state, model.view_steps(state), fraction=0.5)
    expected = fine_tune(model.family, model.theta, x, model.y_support, config.inner_lr, 3,
                         x_eval=model.grid, x_query=model.grid, y_query=model.truth)
    np.testing.assert_allclose(picture.predictions, expected.predictions)
    assert picture.drawn == 1 and picture.view_steps == 2 and picture.baseline is None
    assert picture.mse == {META_LABEL: {1: float(expected.query_mse[1]),
                                        3: float(expected.query_mse[3])}}
    # the task's own points again; no table columns at all is allowed too
    model.apply_points(state.replace(support_points=None))
    assert len(model.x_support) == len(model.tasks["x_support"][1])
    assert model.picture(state.replace(steps=[]), 2).mse == {META_LABEL: {}}
    # the drawn steps follow the run's k unless the state sets them
    assert model.view_steps(FunctionState()) == 2
