"""The window's process leaves what it holds at start-up out of the collector's full passes."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_settle_memory_collects_then_freezes_what_is_alive():
    script = textwrap.dedent("""
        import gc, weakref
        from maml_gui.app import settle_memory

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        dead = weakref.ref(a)
        del a, b
        kept = [Node() for _ in range(1000)]
        gc.disable()  # no automatic pass may do settle_memory's work
        settle_memory()
        print(dead() is None, gc.get_freeze_count() >= 1000)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=".")
    assert out.stdout.split() == ["True", "True"]
