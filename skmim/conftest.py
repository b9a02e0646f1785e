"""Doctest settings: one torch thread (``SKMIM_TEST_THREADS`` overrides)."""

import os

import torch

torch.set_num_threads(int(os.environ.get("SKMIM_TEST_THREADS", "1")))
