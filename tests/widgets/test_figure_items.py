"""The trace, comparison and function figures: plot items built from the state and the data
(no window widget), tables painted with their real values, no empty rows."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image

from maml_gui.core.comparison import build_variants, metrics_for
from maml_gui.core.config import make_config
from maml_gui.core.training import train
from maml_gui.export.data import read_embedded_session
from maml_gui.export.figure import snapshot_at
from maml_gui.export.images import render_widget
from maml_gui.export.views import (
    export_comparison_image, export_function_image, export_trace_image,
)
from maml_gui.palette import PUBLICATION
from maml_gui.plots.trace import TracePlot
from maml_gui.runtime.offline import run_comparison_offline
from maml_gui.view import FunctionState

SVG = "{http://www.w3.org/2000/svg}"
SIZE = (640, 480)


def _texts(path) -> list[str]:
    root = ET.parse(path).getroot()
    return [" ".join("".join(e.itertext()).split()) for e in root.iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def run():
    config = make_config({"inner_lr": 0.4, "inner_steps": 2, "steps": 4, "device": "cpu"})
    return config, list(train(config, config.steps))


@pytest.fixture(scope="module")
def comparison():
    config = make_config({"inner_lr": 0.4, "inner_steps": 1, "steps": 6, "device": "cpu"})
    variants = build_variants(config, [("maml", {}), ("fomaml", {"inner_lr": 0.2})])
    return config, run_comparison_offline(variants, config.steps)


def test_comparison_table_shows_every_variants_real_metrics(qtbot, tmp_path, comparison):
    config, snapshot = comparison
    target = 0.1  # MAML starts below it, FOMAML (α = 0.2) reaches it at its 5th step
    out = export_comparison_image(tmp_path / "c.svg", config, snapshot, size=SIZE,
                                  target=target)
    texts = _texts(out)
    assert any("meta-step 6" in t for t in texts)  # the step number in the title
    assert any(f"≤ {target:.3g}" in t for t in texts)
    for variant, history in zip(snapshot.variants, snapshot.histories):
        row = metrics_for(variant.label, history, target)
        assert row.steps_to_target in (1, 5)  # a real count, not "—"
        assert variant.label in "".join(texts)  # SVG splits text where the font changes
        assert f"{row.meta_loss:.4g}" in texts and str(row.steps_to_target) in texts
    assert "mean loss" in texts  # the colour bar's label
    _, view = read_embedded_session(out)
    assert view.tab == "compare" and view.comparison.target == pytest.approx(target)
    assert [v[0] for v in view.comparison.variants] == ["maml", "fomaml"]
    assert view.comparison.variants[1][1] == "inner_lr=0.2"


def test_trace_figure_has_one_row_per_task_and_nothing_below(qtbot, tmp_path, run):
    config, records = run
    snapshot = snapshot_at(config, records, frame_index=3)  # mid-animation: some cells dimmed
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    widget.setBackground(PUBLICATION.background)
    drawing = TracePlot(PUBLICATION, widget.ci)
    drawing.show(config, snapshot)
    out = render_widget(widget, tmp_path / "t.png", size=SIZE)
    table = drawing.table
    rows = [r[0] for r in table.data.rows]
    assert rows == [f"task {i}" for i in range(records[-1].n_tasks)]
    # the figure's numbers are the record's
    assert table.cell_text(1, 2) == f"{records[-1].loss_after[1]:.4g}"
    assert any(c == "#909090" for row in table.data.colours for c in row)  # not reached yet
    pixels = np.asarray(Image.open(out).convert("L"))
    bottom = int(np.ceil(table.mapRectToScene(table.boundingRect()).bottom()))
    top = int(table.mapRectToScene(table.boundingRect()).top())
    assert bottom <= SIZE[1] - 20
    assert (pixels[top:bottom] < 128).sum() > 200  # the table's text is drawn
    assert (pixels[bottom + 2:] > 250).all()  # no empty rows, no scroll bar: blank page
    line = drawing.code.highlighted
    assert line >= 0 and drawing.code.lines[line]  # the executing line is marked


def test_trace_svg_has_the_table_and_the_code_as_text(qtbot, tmp_path, run):
    config, records = run
    out = export_trace_image(tmp_path / "t.svg", config, snapshot_at(config, records), size=SIZE)
    texts = _texts(out)
    assert "task 0" in texts and "task 1" in texts and "task 2" not in texts
    assert f"{records[-1].loss_before[0]:.4g}" in texts
    assert any(t.startswith("meta-step 4") for t in texts)


def test_function_figure_draws_the_state_given(qtbot, tmp_path):
    config = make_config({"inner_lr": 0.3, "inner_steps": 3, "steps": 3, "device": "cpu"})
    records = list(train(config, config.steps))
    state = FunctionState(task=1, support_points=4, draw=2, steps=[2, 7], view_steps=6)
    out = export_function_image(tmp_path / "f.svg", config, snapshot_at(config, records),
                                size=SIZE, state=state)
    texts = _texts(out)
    assert "2 steps" in texts and "7 steps" in texts and "1 step" not in texts
    assert any("task 1:" in t and "4 support points" in t for t in texts)
    assert any("after 6 steps" in t for t in texts)
    _, view = read_embedded_session(out)
    assert view.tab == "function" and view.function == state


def test_a_figure_too_small_for_its_rows_is_refused(qtbot, tmp_path, run):
    from maml_gui.export import ExportError

    config, records = run
    with pytest.raises(ExportError, match="needs at least"):
        export_trace_image(tmp_path / "t.png", config, snapshot_at(config, records),
                           size=(300, 120))
    assert not list(tmp_path.iterdir())
