"""iTAML's settings in the window: their own section, edited like every other setting."""

from __future__ import annotations

from maml_gui.core.config import make_config
from maml_gui.widgets.parameter_panel import ParameterPanel
from tests.widgets.test_parameter_panel import emitted

ITAML_KEYS = ("itaml_variant", "itaml_memory", "itaml_decay", "itaml_session_steps", "itaml_batch")


def test_itaml_settings_have_a_section_and_send_their_changes(qtbot):
    panel = ParameterPanel(make_config({"algorithm": "itaml", "task": {"family": "blobs"}}))
    qtbot.addWidget(panel)
    box = panel._sections["iTAML"]
    for key in ITAML_KEYS:
        assert box.isAncestorOf(panel.editor(key)), key
        assert panel.editor(key).isEnabled(), key  # iTAML reads them all
    spin = panel.editor("itaml_decay").spin
    assert emitted(qtbot, panel, lambda: spin.setValue(0.5)) == {"itaml_decay": 0.5}
    combo = panel.editor("itaml_variant").combo
    assert emitted(qtbot, panel, lambda: combo.setCurrentIndex(combo.findData("naive"))) == \
        {"itaml_variant": "naive"}
    assert panel.config().itaml_variant == "naive"
