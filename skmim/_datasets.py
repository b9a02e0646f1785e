"""Synthetic Gaussian multi-index problems: regression and classification."""

import numbers

import numpy as np
from sklearn.utils import check_random_state

from ._links import LINKS


def _count(value):
    """Whether ``value`` is a positive integer (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def _real(value):
    """Whether ``value`` is a real number (not a bool, None or a string)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class GaussianMultiIndex:
    """Gaussian multi-index model ``y = g(U^T x) + noise`` with ``x ~ N(0, I_d)``.

    The hidden subspace ``U`` (``n_features x r``, orthonormal columns) is drawn
    uniformly at random once, when the generator is built; every call of
    :meth:`sample` draws fresh ``(X, y)`` from the same model.

    Parameters
    ----------
    n_features : int
        Ambient dimension ``d``.
    link : str or callable
        A name from the catalogue (see :func:`skmim.link_names`; for example
        ``"h2+h2"``, ``"h4+h4"``, ``"z1*z2"``, ``"h3+h3"``, ``"mixed3"``), or a
        callable mapping ``Z`` of shape ``(n_samples, n_directions)`` to
        ``(n_samples,)``. Hermite links use ``h_k = He_k / sqrt(k!)``.
    n_directions : int, default=None
        Number ``r`` of hidden directions. Required for a callable link; for a
        named link it must be None or equal to the catalogue's ``r``.
    noise : float, default=0.0
        Standard deviation of the additive Gaussian label noise.
    strengths : array-like of shape (n_directions,), default=None
        Anisotropic signal: the link sees ``z_k = strengths[k] * u_k . x``
        (the columns of ``U`` scaled, condition number
        ``max(strengths) / min(strengths)``). ``None`` means all ones.
    labels : {None, "sign", "argmax"}, default=None
        Classification mode: :meth:`sample` returns integer class labels
        instead of ``g(U^T x) + noise``. ``"sign"``: ``1`` where ``g(U^T x)
        + noise > threshold``, else ``0``; ``"argmax"``: the link returns
        ``K`` scores per sample, shape ``(n_samples, K)``, and the label is
        the index of the largest after adding ``noise`` to each (for
        example ``np.tanh(np.column_stack([z1, z2, -z1 - z2]))`` for three
        classes). The class probabilities then depend on ``x`` through
        ``U^T x`` only.
    threshold : float, default=0.0
        ``labels="sign"``: the level of ``g`` that separates the classes.
    label_noise : float in [0, 1), default=0.0
        Classification mode: the probability that a label is replaced by a
        class drawn uniformly at random (it may draw the same class).
    random_state : int, RandomState instance or None, default=None
        Seeds the subspace and, unless :meth:`sample` is given its own seed,
        the stream of samples.

    Attributes
    ----------
    subspace : ndarray of shape (n_features, n_directions)
        The true hidden subspace ``U`` (orthonormal columns).
    n_directions : int
        ``r``.

    See Also
    --------
    skmim.MultiIndexNetRegressor : learns ``U`` and ``g`` from such data.
    skmim.link_names : the catalogue of named links.

    References
    ----------
    .. [1] Zhang, Wang, Fu, Lee. Neural Networks Learn Generic Multi-Index
       Models Near Information-Theoretic Limit. arXiv:2511.15120 (ICLR 2026).

    Examples
    --------
    >>> from skmim import GaussianMultiIndex
    >>> problem = GaussianMultiIndex(64, "h2+h2", noise=0.1, random_state=0)
    >>> X, y = problem.sample(1000, random_state=1)
    >>> X.shape, y.shape, problem.subspace.shape
    ((1000, 64), (1000,), (64, 2))
    >>> signs = GaussianMultiIndex(64, "h2+h2", labels="sign", label_noise=0.1,
    ...                            random_state=0)
    >>> sorted(set(signs.sample(100, random_state=1)[1].tolist()))
    [0, 1]
    """

    def __init__(self, n_features, link, *, n_directions=None, noise=0.0, strengths=None,
                 labels=None, threshold=0.0, label_noise=0.0, random_state=None):
        if not _count(n_features):
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}.")
        if isinstance(link, str):
            if link not in LINKS:
                raise ValueError(
                    f"Unknown link {link!r}; expected a callable or one of {sorted(LINKS)}."
                )
            r, fn, _ = LINKS[link]
            if n_directions is not None and n_directions != r:
                raise ValueError(
                    f"link {link!r} has {r} directions, got n_directions={n_directions}."
                )
        elif callable(link):
            if not isinstance(n_directions, numbers.Integral) or n_directions < 1:
                raise ValueError("A callable link needs n_directions, a positive integer.")
            r, fn = int(n_directions), link
        else:
            raise ValueError(f"link must be a name or a callable, got {type(link).__name__}.")
        if r > n_features:
            raise ValueError(f"n_directions={r} exceeds n_features={n_features}.")
        if not _real(noise) or not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise must be a finite non-negative number, got {noise!r}.")
        if labels not in (None, "sign", "argmax"):
            raise ValueError(f"labels must be None, 'sign' or 'argmax', got {labels!r}.")
        if not _real(threshold) or not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold!r}.")
        if not (_real(label_noise) and np.isfinite(label_noise) and 0 <= label_noise < 1):
            raise ValueError(f"label_noise must be in [0, 1), got {label_noise!r}.")
        if label_noise > 0 and labels is None:
            raise ValueError("label_noise needs a classification mode: labels='sign' or "
                             "'argmax'.")
        if strengths is None:
            strengths = np.ones(r)
        strengths = np.array(strengths, dtype=float)  # a copy: the caller's array may change
        if strengths.shape != (r,) or not np.all(np.isfinite(strengths)) or np.any(strengths <= 0):
            raise ValueError(f"strengths must be {r} finite positive numbers, got {strengths!r}.")
        self.n_features = int(n_features)
        self.link = link
        self.n_directions = r
        self.noise = float(noise)
        self.strengths = strengths
        self.labels = labels
        self.threshold = float(threshold)
        self.label_noise = float(label_noise)
        self._g = fn
        self._rng = check_random_state(random_state)
        Q, R = np.linalg.qr(self._rng.standard_normal((self.n_features, r)))
        self.subspace = Q * np.sign(np.diag(R))

    def link_values(self, X):
        """Noise-free labels ``g(U^T x)`` for the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, K)
            ``(n_samples, K)``: the scores of the ``K`` classes
            (``labels="argmax"``).
        """
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n_samples, {self.n_features}), got {X.shape}.")
        Z = (X @ self.subspace) * self.strengths
        y = np.asarray(self._g(Z), dtype=float)
        if self.labels == "argmax":
            if y.ndim != 2 or y.shape[0] != Z.shape[0] or y.shape[1] < 2:
                raise ValueError(f"labels='argmax' needs a link returning (n_samples, K) "
                                 f"scores with K >= 2, got shape {y.shape}.")
        elif y.shape != (Z.shape[0],):
            raise ValueError(f"the link returned shape {y.shape}, expected ({Z.shape[0]},).")
        return y

    def sample(self, n_samples, random_state=None):
        """Draw ``n_samples`` pairs ``(X, y)``.

        Parameters
        ----------
        n_samples : int
        random_state : int, RandomState instance or None, default=None
            ``None`` continues the generator's own stream.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Float labels ``g(U^T x) + noise``, or integer classes in
            classification mode.
        """
        if not _count(n_samples):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        rng = self._rng if random_state is None else check_random_state(random_state)
        X = rng.standard_normal((int(n_samples), self.n_features))
        y = self.link_values(X)
        if self.noise > 0:
            y = y + self.noise * rng.standard_normal(y.shape)
        if self.labels is None:
            return X, y
        if self.labels == "sign":
            y, n_classes = (y > self.threshold).astype(np.int64), 2
        else:
            y, n_classes = np.argmax(y, axis=1).astype(np.int64), y.shape[1]
        if self.label_noise > 0:
            flip = rng.random_sample(y.shape[0]) < self.label_noise
            y[flip] = rng.randint(n_classes, size=int(flip.sum()))
        return X, y

    def __repr__(self):
        link = self.link if isinstance(self.link, str) else getattr(self.link, "__name__", "callable")
        mode = "" if self.labels is None else (
            f", labels={self.labels!r}, threshold={self.threshold}, "
            f"label_noise={self.label_noise}")
        strengths = ("" if np.all(self.strengths == 1.0)
                     else f", strengths={self.strengths.tolist()}")
        return (f"GaussianMultiIndex(n_features={self.n_features}, link={link!r}, "
                f"n_directions={self.n_directions}, noise={self.noise}{strengths}{mode})")
