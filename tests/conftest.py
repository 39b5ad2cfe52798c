"""pytest.ini runs the suite on pytest-xdist's workers, one per core (`-n logical`). Each worker, and every stage
it starts, gets an equal share of the cores as its torch threads: two workers of two threads each on two cores
would wait on each other's threads."""
import os

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))

if WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:  # before any test module imports torch
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // WORKERS))
