"""maml-gui: watch optimization-based meta-learning work."""

import os

__version__ = "0.1.0"  # the one place: pyproject.toml reads it (dynamic version)

# numpy's bundled OpenBLAS spins its worker threads while waiting; next to the training and
# landscape threads on a small machine that turned a 160×160 eigh into 0.4 s of stalled GUI.
# One BLAS thread, like torch's one thread, leaves a core for the window. Must run before numpy
# is imported, hence here.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
