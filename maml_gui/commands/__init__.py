"""Headless subcommands of ``maml-gui``; each module adds its parser and sets ``handler``."""

from maml_gui.commands import export, landscape, run

SUBCOMMANDS = (run, landscape, export)
