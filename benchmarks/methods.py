"""The methods compared by the benchmark, each behind one small interface.

Every method is a function ``fit(X, y, r, seed, threads) -> Fitted`` where
``Fitted`` holds the learned subspace (or None), a predictor, and the time
spent learning the subspace alone (``subspace_time``, None when the method
has no separate subspace step). The caller times the whole call.

Choices (not tuned to the benchmark problems; see docs/benchmarks.md):

- skmim estimators: library defaults, ``n_components`` = true r, ``device="cpu"``.
- Projection-only methods (SpectralProjector, pHd, SIR, SAVE) get the same
  second stage for R^2: an RBF Nystroem map (300 components, gamma = 0.5, i.e.
  unit length scale on the projected coordinates, which are ~N(0, 1)) followed
  by ``RidgeCV`` over ``alpha`` in ``logspace(-6, 3, 10)``. skmim has no
  separate stage-2 estimator, and a spline basis would be additive per
  coordinate and could not represent interactions such as ``z1 * z2``.
- statsmodels.regression.dimred: their ``fit()`` defaults (SIR ``slice_n=20``,
  SAVE ``slice_n=50``, pHd without ``resid``); subspace = the first r columns of
  ``results.params`` (sorted by eigenvalue magnitude by statsmodels),
  orthonormalized (real part for pHd, whose ``np.linalg.eig`` may return
  complex output).
- MLPRegressor: scikit-learn defaults (one hidden layer of 100 ReLU units, Adam,
  ``max_iter=200``, stops when the training loss stalls), ``random_state=seed``;
  subspace = top-r right singular vectors of the first-layer weights
  ``coefs_[0].T`` (hidden x d). (A 256-unit variant with ``early_stopping=True``
  was tried first and stopped after ~12 epochs at small n, with a worse subspace
  than the defaults, so the defaults were kept.)
- KernelRidge: RBF, ``GridSearchCV`` (3-fold) over alpha in {0.01, 0.1, 1} and
  gamma in {0.5, 1, 2} / d; no subspace.
- xRFM: package defaults (one tree; a single leaf RFM below 60,000 samples,
  5 RFM iterations, ``l2_high_dim`` kernel), ``device="cpu"``; 20 % of the
  training samples are its validation split; subspace = top-r eigenvectors of
  its best AGOP matrix (``collect_best_agops()``, averaged over leaves).
"""

from dataclasses import dataclass
import time
import warnings

import numpy as np

# Method names, in report order. SKMIM methods first.
SKMIM_METHODS = ("skmim-refined", "skmim-layerwise", "skmim-grassmann")
PEERS = ("spectral", "phd", "sir", "save", "mlp", "xrfm", "krr")
ALL_METHODS = SKMIM_METHODS + PEERS
# Methods that expose a subspace (everything but kernel ridge).
SUBSPACE_METHODS = tuple(m for m in ALL_METHODS if m != "krr")

LABELS = {
    "skmim-refined": "skmim default (refined)",
    "skmim-layerwise": "skmim layerwise (paper)",
    "skmim-grassmann": "skmim grassmann (random start)",
    "spectral": "SpectralProjector + Nystroem/RidgeCV",
    "phd": "statsmodels pHd",
    "sir": "statsmodels SIR",
    "save": "statsmodels SAVE",
    "mlp": "sklearn MLPRegressor",
    "xrfm": "xRFM",
    "krr": "sklearn KernelRidge (RBF, grid)",
}


@dataclass
class Fitted:
    subspace: object  # (d, r) ndarray or None
    predict: object  # callable X -> y_hat
    subspace_time: object = None  # seconds, or None
    info: str = ""


def availability():
    """{method: None if usable, else the reason it is skipped}."""
    out = {m: None for m in ALL_METHODS}
    try:
        import statsmodels.regression.dimred  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the environment
        for m in ("phd", "sir", "save"):
            out[m] = f"statsmodels not importable ({exc.__class__.__name__}: {exc})"
    try:
        import xrfm  # noqa: F401
    except Exception as exc:  # pragma: no cover
        out["xrfm"] = f"xrfm not importable ({exc.__class__.__name__}: {exc})"
    return out


def _orthonormal(B, r):
    B = np.real(np.asarray(B, dtype=complex if np.iscomplexobj(B) else float))[:, :r]
    Q, _ = np.linalg.qr(B)
    return Q


# ---------------------------------------------------------------- stage 2 for projections
def _stage2(Z, y, seed):
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline

    n_comp = int(min(300, Z.shape[0]))
    model = make_pipeline(
        Nystroem(kernel="rbf", gamma=0.5, n_components=n_comp, random_state=seed),
        RidgeCV(alphas=np.logspace(-6, 3, 10)),
    )
    return model.fit(Z, y)


def _projection_method(learn_subspace):
    """Wrap ``learn_subspace(X, y, r) -> (basis, center)`` with the common stage 2."""

    def fit(X, y, r, seed, threads):
        t0 = time.perf_counter()
        Q, center = learn_subspace(X, y, r)
        t_sub = time.perf_counter() - t0
        reg = _stage2((X - center) @ Q, y, seed)
        return Fitted(Q, lambda Xt: reg.predict((Xt - center) @ Q), t_sub)

    return fit


def _spectral(X, y, r):
    from skmim import SpectralProjector

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SubspaceWarning below the noise edge
        sp = SpectralProjector(n_components=r, device="cpu").fit(X, y)
    return sp.subspace_, sp.x_mean_


def _statsmodels(name):
    def learn(X, y, r):
        from statsmodels.regression import dimred

        cls = {
            "phd": dimred.PrincipalHessianDirections,
            "sir": dimred.SlicedInverseReg,
            "save": dimred.SlicedAverageVarianceEstimation,
        }[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = cls(y, X).fit()
        return _orthonormal(np.asarray(res.params), r), X.mean(axis=0)

    return learn


# ---------------------------------------------------------------- skmim
def _skmim(solver):
    def fit(X, y, r, seed, threads):
        from skmim import MultiIndexNetRegressor

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = MultiIndexNetRegressor(
                n_components=r, solver=solver, random_state=seed, device="cpu"
            ).fit(X, y)
        msgs = sorted({w.category.__name__ for w in caught})
        info = f"loss={model.loss_};n_iter={model.n_iter_}"
        if msgs:
            info += ";warnings=" + "+".join(msgs)
        return Fitted(model.subspace_, model.predict, None, info)

    return fit


# ---------------------------------------------------------------- sklearn peers
def _mlp(X, y, r, seed, threads):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPRegressor(random_state=seed).fit(X, y)
    _, _, Vt = np.linalg.svd(m.coefs_[0].T, full_matrices=False)
    return Fitted(Vt[:r].T, m.predict, None, f"n_iter={m.n_iter_}")


def _krr(X, y, r, seed, threads):
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV

    d = X.shape[1]
    grid = {"alpha": [0.01, 0.1, 1.0], "gamma": [0.5 / d, 1.0 / d, 2.0 / d]}
    gs = GridSearchCV(KernelRidge(kernel="rbf"), grid, cv=3).fit(X, y)
    p = gs.best_params_
    return Fitted(None, gs.predict, None, f"alpha={p['alpha']};gamma*d={p['gamma'] * d:g}")


def _xrfm(X, y, r, seed, threads):
    import torch
    from xrfm import xRFM

    rng = np.random.default_rng(seed)
    perm = rng.permutation(X.shape[0])
    n_val = max(1, X.shape[0] // 5)
    val, tr = perm[:n_val], perm[n_val:]
    model = xRFM(device="cpu", random_state=seed, n_threads=threads, verbose=False)
    model.fit(X[tr], y[tr], X[val], y[val])
    mats = [m for m in model.collect_best_agops() if m is not None] or model.collect_Ms()
    M = np.mean([torch.as_tensor(m).double().cpu().numpy() for m in mats], axis=0)
    M = 0.5 * (M + M.T)
    w, V = np.linalg.eigh(M)
    Q = V[:, np.argsort(-np.abs(w))[:r]]

    def predict(Xt):
        return np.asarray(model.predict(np.asarray(Xt, dtype=np.float32))).reshape(-1)

    return Fitted(Q, predict, None, f"leaves={len(mats)}")


FIT = {
    "skmim-refined": _skmim("refined"),
    "skmim-layerwise": _skmim("layerwise"),
    "skmim-grassmann": _skmim("grassmann"),
    "spectral": _projection_method(_spectral),
    "phd": _projection_method(_statsmodels("phd")),
    "sir": _projection_method(_statsmodels("sir")),
    "save": _projection_method(_statsmodels("save")),
    "mlp": _mlp,
    "krr": _krr,
    "xrfm": _xrfm,
}
