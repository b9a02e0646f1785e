"""The "grassmann" solver: two-timescale descent from random starts (or a warm start)."""

import torch

from ._common import (
    _final_stage2,
    _polish,
    best_of_starts,
    confirmation_z,
    mean_loss,
    random_starts,
)


def _fit_grassmann(train, valid, final, cfg, seed, callback, starts=None, loss="squared",
                   everything=None):
    """Two-timescale descent from each start; the best on ``valid`` kept.

    ``starts`` (torch tensors of shape (d, k)) default to ``n_init`` random
    subspaces (the "grassmann" solver); a warm start passes the previous
    fit's training-part subspace and its ``loss`` name. The kept descent is
    continued on ``everything`` (:func:`_polish`).
    """
    gen = torch.Generator().manual_seed(int(seed))
    if starts is None:
        starts = random_starts(train.n_features, cfg, gen)
    fit, best, kept = best_of_starts(starts, train, valid, cfg, callback, loss)
    fit.selection = {loss: best}
    fit.refined = True
    fit.heldout = (best, mean_loss(train, valid), confirmation_z(kept, train, cfg["huber_delta"]))
    _polish(fit, kept, everything, cfg, callback)
    if final is not None:
        _final_stage2(fit, final, gen, cfg)
    return fit
