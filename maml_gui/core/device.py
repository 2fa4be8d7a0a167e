"""Choosing the compute device, and refusing devices that cannot differentiate twice.

Which devices exist is asked once per process (:func:`probe_devices`) and cached. The first
call initialises CUDA's driver where torch is the CUDA build, and that must happen in the
main thread before any worker thread starts: ``torch.cuda.is_available()`` from a worker
thread while Qt's event loop ran segfaulted about one run in three on a machine without a
GPU. Entry points (the window, the worker transport, the tests) call it early.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import torch


class DeviceError(RuntimeError):
    """The requested device does not exist or cannot run the requested algorithm."""


@dataclass(frozen=True)
class DeviceInfo:
    """A device the panel can offer: whether it can be chosen, and if not, why."""

    name: str
    available: bool
    reason: str = ""


@dataclass(frozen=True)
class DeviceProbe:
    """The devices this process can use, as found once by :func:`probe_devices`."""

    cuda_names: tuple[str, ...]  # one per CUDA device; empty: no CUDA here
    mps: bool

    @property
    def cuda(self) -> bool:
        return bool(self.cuda_names)


_probe: DeviceProbe | None = None
_probe_lock = threading.Lock()


def probe_devices() -> DeviceProbe:
    """Ask torch which devices exist, once per process; later calls return the cached answer.

    Call it first from the main thread, before worker threads start (see the module's
    docstring)."""
    global _probe
    with _probe_lock:
        if _probe is None:
            names: tuple[str, ...] = ()
            if torch.cuda.is_available():
                names = tuple(torch.cuda.get_device_name(i)
                              for i in range(torch.cuda.device_count()))
            backend = getattr(torch.backends, "mps", None)
            _probe = DeviceProbe(names, bool(backend is not None and backend.is_available()))
        return _probe


def _mps_available() -> bool:
    return probe_devices().mps


def list_devices() -> list[DeviceInfo]:
    """``auto``, ``cpu``, every CUDA device and MPS, each marked usable or not, with the reason."""
    devices = [DeviceInfo("auto", True), DeviceInfo("cpu", True)]
    probe = probe_devices()
    if probe.cuda:
        devices.append(DeviceInfo("cuda", True))
        for index, label in enumerate(probe.cuda_names):
            devices.append(DeviceInfo(f"cuda:{index}", True, label))
    else:
        why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None
               else "no CUDA GPU was found")
        devices.append(DeviceInfo("cuda", False, why))
    if _mps_available():
        devices.append(DeviceInfo("mps", True))
    else:
        devices.append(DeviceInfo("mps", False, "Apple-silicon GPUs (MPS) are not available here"))
    return devices


def resolve_device(name: str) -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N``/``mps`` into a device that exists, or raise."""
    cuda_count = len(probe_devices().cuda_names)
    if name == "auto":
        if cuda_count:
            return torch.device("cuda")
        return torch.device("cpu")  # MPS only on request: its second-order support is patchy
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not cuda_count:
            raise DeviceError(f"device {name!r} requested but CUDA is not available here")
        index = int(name[5:]) if name.startswith("cuda:") else 0
        if index >= cuda_count:
            raise DeviceError(f"device {name!r} requested but only "
                              f"{cuda_count} CUDA device(s) exist")
        return torch.device(name)
    if name == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' requested but MPS is not available here")
        return torch.device("mps")
    raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps")


@lru_cache(maxsize=None)
def _double_backward_error(device: str, dtype: torch.dtype) -> str | None:
    try:
        x = torch.tensor([0.3, -0.7], device=device, dtype=dtype, requires_grad=True)
        w = torch.tensor([[1.0, 2.0], [0.5, -1.0]], device=device, dtype=dtype)
        y = torch.nn.functional.softplus(torch.relu(w @ x) + torch.sin(x)).square().sum()
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), x)
        # Compare against the same computation on the CPU: a silently wrong backend fails too.
        xc = x.detach().cpu().to(torch.float64).requires_grad_(True)
        wc = w.cpu().to(torch.float64)
        yc = torch.nn.functional.softplus(torch.relu(wc @ xc) + torch.sin(xc)).square().sum()
        (gc,) = torch.autograd.grad(yc, xc, create_graph=True)
        (hc,) = torch.autograd.grad(gc.sum(), xc)
        if not torch.allclose(h.detach().cpu().to(torch.float64), hc, rtol=1e-3, atol=1e-4):
            return "second derivatives computed there disagree with the CPU"
    except Exception as exc:  # any backend failure means: refuse this device
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def check_second_order(device: torch.device, dtype: torch.dtype, algorithm: str) -> None:
    """Raise :class:`DeviceError` if ``algorithm`` needs double backward and ``device`` fails it."""
    error = _double_backward_error(str(device), dtype)
    if error is not None:
        raise DeviceError(
            f"{algorithm} needs second derivatives (double backward), which fail on {device} "
            f"with {dtype}: {error}. Choose the cpu device, or a first-order algorithm (fomaml, reptile)."
        )
