"""Window tests close windows with unsaved changes and no person to answer the question."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox


@pytest.fixture(autouse=True)
def unsaved_changes_answer(monkeypatch):
    """``QMessageBox.question`` answers Discard (a modal box would wait forever offscreen).

    A test may set ``answer["button"]`` and read ``answer["asked"]`` (the texts asked).
    """
    answer = {"button": QMessageBox.StandardButton.Discard, "asked": []}

    def question(_parent, title, text, *_args, **_kwargs):
        answer["asked"].append(f"{title}: {text}")
        return answer["button"]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return answer
