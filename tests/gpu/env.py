"""The GPU checks' settings, from the environment (see conftest.py)."""

import os

DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")  # the device under test; cpu: a dry run of these checks
QUICK = os.environ.get("GPU_CHECK_QUICK") == "1"  # tiny sizes
