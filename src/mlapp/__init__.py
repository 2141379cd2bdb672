"""GitOps ML template package."""

import os

# numpy's and scipy's OpenBLAS (scipy: imported by xgboost) each start a thread per CPU when loaded
# and map a 32 MiB buffer for each; nothing here multiplies large matrices (XGBoost has its own
# threads). Under an address-space limit (`ulimit -v`) scipy's (0.3.30) retried a buffer it could
# not map for ever, at 100% CPU: one thread maps 80 MiB less on 2 CPUs (4 GiB less on 64), and
# makes the room loading the model needs the same on every machine (``mlapp.address_space``).
# Read when the library loads: set before numpy is imported, which every entry point does after this.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
