"""Test-session settings: one torch thread by default (a 2-core CI machine is
far faster so); ``SKMIM_TEST_THREADS=2`` runs the suite with two, which must
pass too (fits then differ by rounding only)."""

import os

THREADS = int(os.environ.get("SKMIM_TEST_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))

import torch  # noqa: E402

torch.set_num_threads(THREADS)

# scripts that make fixtures on other machines, not tests
collect_ignore_glob = ["fixtures/*"]
