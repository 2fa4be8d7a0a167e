"""pyqtgraph items that draw a view state (:mod:`maml_gui.view`), shared by the window's
widgets and the exports: neither builds a figure from the other.

Layers: widgets → runtime / export → plots → view → core.
"""
