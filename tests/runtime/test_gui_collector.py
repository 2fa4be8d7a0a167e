"""Garbage is collected in the GUI thread once a serve loop runs in a thread (Qt objects in
reference cycles must never be destroyed from the training thread)."""

from __future__ import annotations

import gc
import threading

from maml_gui.runtime.gui_collector import PUMP_MS, collect_in_gui_thread


class _Cycle:
    finalized_in: list[str] = []

    def __init__(self):
        self.me = self

    def __del__(self):
        _Cycle.finalized_in.append(threading.current_thread().name)


def test_cycles_are_collected_in_the_gui_thread_not_in_an_allocating_thread(qtbot):
    assert collect_in_gui_thread()
    assert not gc.isenabled()  # the automatic collector would run in any allocating thread
    _Cycle.finalized_in.clear()
    for _ in range(50):
        _Cycle()  # garbage only a collection frees

    kept = []

    def allocate():  # a training loop's allocations, kept: far past every threshold
        kept.append([[object()] for _ in range(200_000)])

    worker = threading.Thread(target=allocate, name="serve loop")
    worker.start()
    worker.join()
    assert gc.get_count()[0] > gc.get_threshold()[0]  # a collection is due
    assert _Cycle.finalized_in == []  # nothing collected in the serve loop's thread
    qtbot.waitUntil(lambda: len(_Cycle.finalized_in) == 50, timeout=20 * PUMP_MS)
    assert set(_Cycle.finalized_in) == {threading.main_thread().name}


def test_a_thread_channel_moves_collection_to_the_gui_thread(qtbot):
    from maml_gui.runtime.channel import Channel

    results = []
    channel = Channel(_echo_serve, (), name="maml-gui test echo",
                      on_result=results.append, on_start_failed=results.append,
                      process=False)
    assert not gc.isenabled()
    channel.start()
    channel.send(("ping",))
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    channel.stop()
    assert channel.wait(2000)
    assert results[0] == ("pong",)


def _echo_serve(commands, results) -> None:
    while True:
        command = commands.get()
        if command[0] == "stop":
            break
        results.put(("pong",))
    results.put(("done",))
