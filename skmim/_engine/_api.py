"""NumPy-in, NumPy-out entry points of the torch engine.

The estimators call these functions with arrays, a device and a dtype; the
tensors never leave this package. Results are returned as float64 NumPy
arrays on the host, so a model trained on a GPU pickles and loads anywhere.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from ._data import Samples
from ._device import resolve_device, resolve_dtype
from ._layerwise import noise_level, ritz_values, second_moment_matrix, train_first_layer
from ._losses import Stage1Loss
from ._ridge import fit_ridge

# Ritz values above NOISE_MARGIN times the predicted noise edge count as signal.
NOISE_MARGIN = 1.25


def _numpy(t):
    return t.detach().to("cpu", torch.float64).numpy()


def sign_flip(basis):
    """Make the largest-magnitude entry of every column positive (deterministic sign)."""
    idx = np.argmax(np.abs(basis), axis=0)
    signs = np.sign(basis[idx, np.arange(basis.shape[1])])
    signs[signs == 0] = 1.0
    return basis * signs


def device_info(device, dtype):
    """Resolve ``device`` and ``dtype`` (raises ``ValueError`` if unavailable)."""
    dev = resolve_device(device)
    return dev, resolve_dtype(dtype, dev)


@dataclass
class SubspaceFit:
    loss: str
    subspace: np.ndarray
    n_components: int
    spectrum: np.ndarray
    noise_level: float
    degenerate: bool
    first_layer: np.ndarray = None
    history: dict = field(default_factory=dict)
    directions: np.ndarray = None
    biases: np.ndarray = None
    coef: np.ndarray = None
    intercept: float = 0.0
    alpha: float = None
    gcv: float = None
    selection: dict = field(default_factory=dict)


def _count_above_noise(spectrum, level):
    return int(np.sum(np.abs(spectrum) > NOISE_MARGIN * level))


def _read_off(W, scores_samples, loss, n_components, max_components):
    """Subspace read-off after stage 1: top singular vectors of ``W``."""
    d = W.shape[1]
    n = scores_samples.n_samples
    K = max(1, min(max_components, W.shape[0], d, n))
    _, _, Vh = torch.linalg.svd(W, full_matrices=False)
    probe = Vh[:K].T
    vals, _ = ritz_values(scores_samples, probe)
    spectrum = _numpy(vals)
    level = noise_level(loss.sample_scores(), scores_samples.weights, d)
    if n_components is None:
        k = max(1, _count_above_noise(spectrum, level))
    else:
        k = n_components
    return sign_flip(_numpy(Vh[:k].T)), k, spectrum, level


def fit_layerwise(
    X1,
    y1,
    w1,
    X2=None,
    y2=None,
    w2=None,
    *,
    losses=("huber",),
    huber_delta=1.0,
    width=512,
    n_steps=4,
    learning_rate=1.0,
    weight_decay=None,
    init_scale=1e-3,
    n_components=None,
    max_components=10,
    stage2_directions="neurons",
    stage2_activation="relu",
    bias_scale=1.0,
    alpha=None,
    device="cpu",
    dtype="auto",
    batch_size=None,
    seed=0,
    callback=None,
):
    """Layer-wise training of the two-layer network (stage 1, then stage 2).

    Stage 1 runs full-batch gradient descent on ``(X1, y1, w1)`` for each
    candidate loss in ``losses``; stage 2 (when ``X2`` is given) fits the outer
    layer on ``(X2, y2, w2)`` with fresh random biases. With several candidate
    losses the one with the smallest stage-2 GCV error is kept (or, without
    stage 2, the one whose weakest kept direction stands furthest above the
    noise edge).

    Returns
    -------
    SubspaceFit
    """
    dev, dt = device_info(device, dtype)
    weight_decay = 1.0 / learning_rate if weight_decay is None else weight_decay
    d = X1.shape[1]
    s1 = Samples(X1, y1, w1, dev, dt, batch_size)
    s2 = None
    if X2 is not None:
        s2 = Samples(X2, y2, w2, dev, dt, batch_size)
    candidates = {}
    for name in losses:
        loss = Stage1Loss(name, np.asarray(y1, dtype=np.float64), s1.weights, huber_delta)
        if loss.is_degenerate:
            continue
        gen = torch.Generator().manual_seed(int(seed))
        if callback is not None:
            callback("stage1_start", {"loss": name})
        W, history = train_first_layer(
            s1.with_targets(loss.centered_targets),
            loss,
            width=width,
            n_steps=n_steps,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            init_scale=init_scale,
            generator=gen,
            track_components=n_components or max_components,
            callback=None if callback is None else (lambda t, rec: callback("stage1_step", rec | {"step": t})),
        )
        scores = s1.with_targets(loss.sample_scores())
        subspace, k, spectrum, level = _read_off(W, scores, loss, n_components, max_components)
        fit = SubspaceFit(
            loss=name,
            subspace=subspace,
            n_components=k,
            spectrum=spectrum,
            noise_level=level,
            degenerate=False,
            first_layer=_numpy(W),
            history=history,
        )
        if s2 is not None:
            _stage2(fit, W, s2, gen, stage2_directions, stage2_activation, bias_scale, alpha)
            score = fit.gcv
            if callback is not None:
                callback("stage2_done", {"loss": name, "gcv": fit.gcv, "alpha": fit.alpha})
        else:
            score = -abs(spectrum[k - 1]) / level if k <= spectrum.size else 0.0
        candidates[name] = (score, fit)
    if not candidates:
        return _degenerate_fit(X1, s2, width, n_components, seed, dev, dt, stage2_activation,
                               bias_scale, alpha, stage2_directions, losses[0])
    best = min(candidates, key=lambda key: candidates[key][0])
    fit = candidates[best][1]
    fit.selection = {name: float(score) for name, (score, _) in candidates.items()}
    return fit


def _stage2(fit, W, s2, gen, directions, activation, bias_scale, alpha):
    dev, dt = s2.device, s2.dtype
    if directions == "subspace":
        V = torch.as_tensor(fit.subspace).to(dev, dt)
        D = (W @ V) @ V.T
        norms = D.norm(dim=1, keepdim=True)
        D = torch.where(norms > 0, D / norms.clamp_min(1e-300), W)
    else:
        D = W
    b = (bias_scale * torch.randn(W.shape[0], generator=gen, dtype=torch.float64)).to(dev, dt)
    res = fit_ridge(s2, D, b, activation, alpha)
    fit.directions = _numpy(D)
    fit.biases = _numpy(b)
    fit.coef = res["coef"].cpu().numpy()
    fit.intercept = float(res["intercept"])
    fit.alpha = res["alpha"]
    fit.gcv = res["gcv"]


def _degenerate_fit(X1, s2, width, n_components, seed, dev, dt, activation, bias_scale,
                    alpha, directions, loss_name):
    """Stage-1 targets are constant: keep the random initialization, fit stage 2."""
    gen = torch.Generator().manual_seed(int(seed))
    d = X1.shape[1]
    W = torch.randn(width // 2, d, generator=gen, dtype=torch.float64)
    W = torch.cat([W, W]).to(dev, dt)
    W = W / W.norm(dim=1, keepdim=True)
    k = n_components or 1
    _, _, Vh = torch.linalg.svd(W, full_matrices=False)
    fit = SubspaceFit(
        loss=loss_name,
        subspace=sign_flip(_numpy(Vh[:k].T)),
        n_components=k,
        spectrum=np.zeros(0),
        noise_level=0.0,
        degenerate=True,
        first_layer=_numpy(W),
        history={"loss": [], "rayleigh": [], "concentration": [], "subspace_change": []},
    )
    if s2 is not None:
        _stage2(fit, W, s2, gen, "neurons", activation, bias_scale, alpha)
    return fit


def spectral_subspace(X, y, w, *, loss="huber", huber_delta=1.0, n_components=None,
                      max_components=10, device="cpu", dtype="auto", batch_size=None):
    """Top-|eigenvalue| eigenvectors of the preprocessed second-moment matrix.

    Returns ``(subspace, n_components, eigenvalues, noise_level, degenerate)``.
    """
    dev, dt = device_info(device, dtype)
    w = np.asarray(w, dtype=np.float64)
    lossobj = Stage1Loss(loss, np.asarray(y, dtype=np.float64), w, huber_delta)
    d = X.shape[1]
    level = noise_level(lossobj.sample_scores(), w, d) if not lossobj.is_degenerate else 0.0
    S = second_moment_matrix(Samples(X, lossobj.sample_scores(), w, dev, dt, batch_size))
    vals, vecs = torch.linalg.eigh(0.5 * (S + S.T))
    order = torch.argsort(vals.abs(), descending=True)
    vals, vecs = _numpy(vals[order]), _numpy(vecs[:, order])
    if n_components is None:
        k = max(1, _count_above_noise(vals[:max_components], level))
    else:
        k = n_components
    return sign_flip(vecs[:, :k]), k, vals[:max(k, min(max_components, d))], level, lossobj.is_degenerate
