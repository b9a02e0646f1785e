"""Doctest settings: one torch thread."""

import torch

torch.set_num_threads(1)
