"""Distances between subspaces and alignment of learned neurons."""

import numpy as np
from scipy.linalg import subspace_angles

__all__ = ["subspace_distance", "principal_angles", "neuron_alignment"]


def _real_array(A, name):
    A = np.asarray(A)
    if np.iscomplexobj(A):
        raise ValueError(f"{name} is complex: the subspaces compared are real.")
    A = np.asarray(A, dtype=float)
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or inf.")
    return A


def _basis(A, name):
    A = np.asarray(A)
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2 or A.shape[1] == 0 or A.shape[1] > A.shape[0]:
        raise ValueError(f"{name} must have shape (n_features, k) with 1 <= k <= n_features, got {A.shape}.")
    A = _real_array(A, name)
    # a span does not depend on the columns' scales: each scaled to a largest
    # entry of 1 first (no square under- or overflows; 1e-20 * I spans what I
    # spans), then a rank test relative to the largest pivot
    top = np.max(np.abs(A), axis=0)
    if not np.all(top > 0):
        raise ValueError(f"{name} does not have full column rank (a zero column).")
    Q, R = np.linalg.qr(A / top)
    pivots = np.abs(np.diag(R))
    if np.min(pivots) <= 1e-12 * np.max(pivots):
        raise ValueError(f"{name} does not have full column rank.")
    return Q


def subspace_distance(A, B):
    """Distance between the column spans of ``A`` and ``B``.

    ``|P_A - P_B|_F / sqrt(k_A + k_B)``: 0 for equal subspaces, 1 for
    orthogonal ones. For equal dimensions ``k`` this is
    ``|P_A - P_B|_F / sqrt(2k)``, the root mean square of the sines of the
    principal angles. Columns need not be orthonormal (they are orthonormalized).

    Parameters
    ----------
    A : array-like of shape (n_features, k_A)
    B : array-like of shape (n_features, k_B)

    Returns
    -------
    distance : float in [0, 1]

    See Also
    --------
    principal_angles

    Examples
    --------
    >>> import numpy as np
    >>> from skmim.metrics import subspace_distance
    >>> E = np.eye(4)
    >>> subspace_distance(E[:, :2], E[:, :2]), subspace_distance(E[:, :2], E[:, 2:])
    (0.0, 1.0)
    """
    QA, QB = _basis(A, "A"), _basis(B, "B")
    if QA.shape[0] != QB.shape[0]:
        raise ValueError(f"A and B live in different dimensions: {QA.shape[0]} and {QB.shape[0]}.")
    ka, kb = QA.shape[1], QB.shape[1]
    # |P_A - P_B|_F^2 = |k_A - k_B| + 2 sum_i sin^2(theta_i), with the principal
    # angles from scipy (accurate for small angles, unlike 1 - cos^2)
    sines = np.sin(subspace_angles(QA, QB))
    return float(np.sqrt((abs(ka - kb) + 2.0 * np.sum(sines**2)) / (ka + kb)))


def principal_angles(A, B):
    """Principal angles (radians, descending) between the spans of ``A`` and ``B``.

    A thin wrapper of :func:`scipy.linalg.subspace_angles` that accepts
    subspaces of different dimensions and validates its input.

    Parameters
    ----------
    A : array-like of shape (n_features, k_A)
    B : array-like of shape (n_features, k_B)

    Returns
    -------
    angles : ndarray of shape (min(k_A, k_B),)

    See Also
    --------
    subspace_distance

    Examples
    --------
    >>> import numpy as np
    >>> from skmim.metrics import principal_angles
    >>> np.round(principal_angles(np.eye(3)[:, :1], np.array([[1.0], [1.0], [0.0]])), 4)
    array([0.7854])
    """
    QA, QB = _basis(A, "A"), _basis(B, "B")
    if QA.shape[0] != QB.shape[0]:
        raise ValueError(f"A and B live in different dimensions: {QA.shape[0]} and {QB.shape[0]}.")
    return subspace_angles(QA, QB)


def neuron_alignment(W, U):
    """Mean squared alignment of neurons with a subspace, ``mean_j |U^T w_j|^2 / |w_j|^2``.

    Parameters
    ----------
    W : array-like of shape (n_neurons, n_features)
        One neuron's weights per row (zero rows are ignored).
    U : array-like of shape (n_features, r)
        The subspace (orthonormalized here).

    Returns
    -------
    alignment : float in [0, 1]
        A random direction scores about ``r / n_features``.

    See Also
    --------
    subspace_distance : compares the span of all neurons instead.

    References
    ----------
    .. [1] Zhang, Wang, Fu, Lee. arXiv:2511.15120 (ICLR 2026): the per-neuron
       alignment that the number of stage-1 steps improves.

    Examples
    --------
    >>> import numpy as np
    >>> from skmim.metrics import neuron_alignment
    >>> neuron_alignment(np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]), np.eye(3)[:, :1])
    0.75
    """
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-d (n_neurons, n_features), got shape {W.shape}.")
    W = _real_array(W, "W")
    Q = _basis(U, "U")
    if W.shape[1] != Q.shape[0]:
        raise ValueError(f"W has {W.shape[1]} features but U has {Q.shape[0]} rows.")
    top = np.max(np.abs(W), axis=1)
    keep = top > 0
    if not np.any(keep):
        raise ValueError("W has no non-zero row.")
    # each row scaled to a largest entry of 1 (the fraction is scale-free): no
    # square of a row of 1e200 or 1e-200 over- or underflows
    Wk = W[keep] / top[keep, None]
    return float(np.mean(np.sum((Wk @ Q) ** 2, axis=1) / np.sum(Wk * Wk, axis=1)))
