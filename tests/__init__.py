"""The test suite. Set here, before any test module (or tests/conftest.py) imports xgboost:

XGBoost's OpenMP runtime (libgomp) reads OMP_WAIT_POLICY once, when it loads. By default its
idle threads spin between parallel regions. `make test` runs two pytest workers on two cores,
each training with params' two threads, beside their dvc and server subprocesses: a spinning
thread holds the core its partner needs to reach the barrier, and training small models took
ten times its CPU time (tests/pipeline/test_tasks.py: 3 s alone, 30 s beside one other worker).
Passive threads sleep instead; the results do not change, only how threads wait. Inherited by
every subprocess the tests start; a value already in the environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
