"""Test-session settings: one torch thread (a 2-core CI machine is far faster so)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

# scripts that make fixtures on other machines, not tests
collect_ignore_glob = ["fixtures/*"]
