"""MultiIndexNetRegressor: the layer-wise two-layer network."""

import numbers

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import (
    STAGE1_CONSTRAINTS,
    BaseMultiIndex,
    atomic,
    hidden_range,
    is_tensor,
    tensor_module,
)
from ._engine._stats import is_dask_array
from ._preprocess import input_weights, stats_from
from ._sklearn_private import Interval, StrOptions, _fit_context


class MultiIndexNetRegressor(RegressorMixin, BaseMultiIndex):
    """Two-layer network that learns a Gaussian multi-index model ``y = g(U^T x)``.

    The network ``f(x) = sum_j a_j sigma(w_j . x + b_j)`` is trained by the
    layer-wise algorithm of Zhang, Wang, Fu and Lee [1]_:

    - *stage 1*: from a tiny symmetric initialization, ``n_steps`` steps of
      full-batch gradient descent (weight decay ``1 / learning_rate``) on the
      first layer, with ``sigma = log cosh``. Around that initialization every
      step is one step of power iteration on ``E[l'(0, y) x x^T]``, whose top
      eigenvectors span ``U``; the learned subspace is the span of the top
      right singular vectors of the first layer;
    - *stage 2*: the first layer frozen and fresh random biases drawn, the
      outer layer is fitted by ridge regression on ``relu(w_j . x + b_j)``,
      its penalty chosen by generalized cross-validation.

    The network never sees the raw table: ``sample_weight`` is divided by
    its mean, every column of ``X`` is centred and divided by its weighted
    standard deviation (``x_mean_``, ``x_scale_``) and ``y`` likewise
    (``y_mean_``, ``y_scale_``), and the fitted weights are mapped back to
    the coordinates of the data given. Rescaling or shifting a column of
    ``X``, rescaling ``y`` affinely or rescaling ``sample_weight`` by any
    positive factor therefore changes the model only by rounding (tested at
    factors 1e-6 to 1e6): predictions carry the units of ``y``,
    :meth:`transform` is unchanged, and ``subspace_`` is the index space in
    the coordinates of the ``X`` given. A :class:`~sklearn.preprocessing.StandardScaler`
    in front is not needed (and changes nothing but rounding).

    ``solver`` chooses how the subspace is learned:

    - ``"layerwise"``: the published algorithm, exactly: stage 1 on a part of
      the samples (``stage1_fraction``), stage 2 on the rest;
    - ``"refined"`` (default): stage 1 in its small-initialization limit
      (the normalized power iteration that the gradient steps compute as
      ``init_scale -> 0``, computed directly and checked against them in the
      tests), then two-timescale Riemannian descent
      on the Grassmannian from the stage-1 subspace (Bietti, Bruna,
      Pillaud-Vivien [2]_): the link is refitted at every step (ridge on a
      tensor Hermite basis of degree ``link_degree``), the subspace takes a
      line-searched Riemannian gradient step and a QR retraction, and training
      stops when the loss on ``validation_fraction`` held-out samples stops
      improving. The outer layer is then fitted on all samples, with
      ``width`` random directions spread uniformly in the refined subspace.
      At ``d = 256``, ``y = h2(z1) + h2(z2)`` and ``n = 8 d`` this lowers the
      subspace distance from about 0.7 (stage 1 alone) to about 0.04.
      When no refinement predicts the held-out samples better than their
      mean (by at least ``CONFIRM_Z = 2`` standard errors of the paired
      per-sample difference of squared errors), nothing was confirmed: the
      refinement is dropped
      (``refined_`` is False, a :class:`SubspaceWarning` says so) and
      ``subspace_`` is the spectral estimate (what stage 1's power iteration
      converges to) on *all* samples, with the Huber loss, or with
      ``loss="auto"`` the sliced-inverse-regression estimate on all samples
      when its top eigenvalue stands more null standard deviations above a
      shift null than the Huber estimate's does. Near the
      detection threshold this uses the 25 % of samples held out for
      validation: on ``h2(z1) h2(z2)`` at d = 256, n = 16 d, the two
      problems in three where refinement failed went from 0.97 and 0.93 to
      0.72 and 0.73 (``benchmarks/sweeps/peer_d256.py``, seeds 0 to 2);
    - ``"grassmann"``: the same descent from a random subspace (the published
      algorithm of [2]_; needs an integer ``n_components``);
    - ``"sgd"``: one pass of online SGD with weight decay on the first layer of
      a ReLU network with frozen random biases (Mousavi-Hosseini et al. [4]_)
      on the stage-1 part of the samples, then the same ridge outer layer on
      the rest; ``subspace_`` is spanned by the top right singular vectors of
      the trained first layer. :meth:`partial_fit` continues the pass on new
      samples.

    Refinement starts where stage 1 ends. For a link with no second-order
    signal under the chosen stage-1 loss (see ``loss``) that start is random,
    and the refinement is then the random-start "grassmann" method: it may
    still succeed from first- or higher-order information when samples are
    plentiful (``h3+h3`` at d = 64, n = 64 d with ``loss="huber"``: distance
    0.99 after stage 1, 0.01 refined), but nothing guarantees it, and at
    d = 256 random starts stalled at n = 8-16 d on ``h2+h2``. Pick a loss that
    sees the link (``loss="auto"`` tries all three, and also starts from
    sliced inverse regression, which sees first-order information such as
    the direction ``u1 + u2`` of ``h3(z1) + h3(z2)``).

    The estimator is also a transformer: :meth:`transform` projects on the
    learned subspace, like :class:`~sklearn.cross_decomposition.PLSRegression`.

    Parameters
    ----------
    n_components : int or "auto", default="auto"
        Number ``r`` of hidden directions kept in ``subspace_``. ``"auto"``:
        with ``solver="refined"``, chosen by held-out loss among nested
        candidate dimensions (the directions of the best refinement ordered
        by how much the fitted link varies along them, then the directions
        stage 1 finds in its residuals): the smallest dimension whose
        held-out Huber loss is within one standard error of the best, refined
        again whenever a larger one is chosen (``dimension_scores_``). With
        ``solver="layerwise"`` (no held-out part), and for the start of each
        refinement, the count of directions of the learned first layer whose
        spectral signal (Ritz value of ``E[l'(0, y) x x^T]``) exceeds 1.25
        times the spectrum edge expected from noise at this ``n`` and ``d``,
        ``s (2 sqrt(d/n) + d/n)`` (at least one is kept).
    solver : {"refined", "layerwise", "grassmann", "sgd"}, default="refined"
        How the subspace is learned (see above). The default was chosen by the
        benchmark in ``docs/benchmarks.md``.
    width : int, default=256
        Number ``m`` of hidden neurons (even: the symmetric initialization pairs
        them). Cost is linear in ``m``. Stage 1 is a block power iteration with
        ``m / 2`` independent neurons, so its subspace needs ``m / 2`` well
        above ``n_components``; stage 2 is a ridge regression on ``m``
        features. At d = 256 the default solver gave the same subspace distance
        with 128, 256 and 512 neurons on ``h2+h2``, ``mixed3`` and ``h4+h4``
        (R^2 0.82 instead of 0.95 on ``h4+h4`` with 128), and 256 took 30% less
        time than 512 (``benchmarks/sweeps/width.py``). The published
        ``solver="layerwise"``, whose stage-2
        features are the stage-1 neurons themselves, gains from ``m >= d``.
    loss : {"auto", "huber", "squared", "abs", "rank"}, default="auto"
        Stage-1 loss, which acts as a label preprocessing (the weight of sample
        ``i`` in the power iteration is ``l'(0, y_i)``). ``"huber"`` is the
        paper's convex Lipschitz loss (threshold ``huber_delta`` times a robust
        scale of ``y``) and recovers even links that squared loss misses, such
        as ``h4(z1) + h4(z2)``; ``"squared"`` uses ``y - mean(y)``; ``"abs"`` is
        squared loss on ``|y - median(y)|``, an even transform that also sees
        odd links such as ``h3`` or ``tanh``; ``"rank"`` is squared loss on the
        normal scores of the ranks of ``y`` (``Phi^{-1}`` of the weighted
        mid-ranks), bounded whatever the tails of ``y``: with Student-t noise
        of 2 degrees of freedom on ``(u.x)^2`` (d = 200, n = 16 d) the
        layerwise start reached 0.41 / 0.43 / 0.39 against 1.00 for squared
        loss, on a par with Huber (0.43 / 0.42 / 0.38;
        ``benchmarks/sweeps/real_table_checks.py``). ``"auto"``: with the default
        ``solver="refined"``, stage 1 and the refinement run from each loss and
        the smallest held-out loss wins (``solver="sgd"`` trains on the
        squared loss whatever this is: its first layer learns by online SGD
        on the network's output, not from a label preprocessing). A fourth
        start joins them when it
        shows signal: sliced inverse regression (Li, 1991; the top
        eigenvectors of ``sum_h p_h m_h m_h^T``, ``m_h`` the mean of ``x``
        over slice ``h`` of sorted ``y``, with 20 samples per slice and at
        most 50 slices), named ``"sliced"``, refined when an eigenvalue
        exceeds 1.25 times its noise edge ``(sqrt(d) + sqrt(H - 1))^2 / n``;
        its directions above the edge are completed by those of the Huber
        start orthogonal to them (up to ``n_components``; with ``"auto"``,
        those more than 45 degrees from the first-order span). It sees
        first-order information that no second moment shows: on
        ``h3(z1) + h3(z2)`` at d = 256, n = 8 d it reached subspace distance
        0.80 where the three losses stayed at 0.94 or more (one of the two
        directions, ``u1 + u2``; the other needs more samples), and on the
        mixed link ``z1 z2 + tanh(z3) + 0.5 z1^2`` (``tanh(z3)`` first order,
        the rest second order) 0.11 instead of 0.63 without the completion
        (medians of three seeds). Even links have no such signal and skip
        it. Another, ``"learned"``, is the spectral estimate of a label
        transform learned from the data: ``T(y) = G / (1 + G)`` with ``G`` a
        regression of ``|V^T x|^2 / k - 1`` on Hermite functions of the
        normal scores of ``y``, ``V`` the Huber start (and, as a second
        candidate of the same name, the rank start), in up to four rounds
        (the transform ``1 - 1 / E[|z|^2 / k | y]`` of the optimal spectral
        method, which needs the link, estimated through the current
        projections).
        It runs when the Huber start's weakest Ritz value is within 1.25
        times its noise edge, near the onset of recovery (with
        ``n_components="auto"``: when no direction stands above the edge),
        and for ``d <= 1024`` (it forms the ``d x d`` matrix, ``n d^2`` per
        round): at d = 256, n = 12 d it took
        ``h4(z1) + h4(z2)`` from 0.66 to 0.025 and ``h2(z1) h2(z2)`` from 0.79
        to 0.039 (medians of five seeds). Where the learned start runs,
        with ``n_components`` of at most 2 and at most 16 training
        samples per feature, the best refinement of the race is followed by
        approximate message passing with a learned channel (GAMP, the
        link the Hermite fit through the current subspace, its noise
        learned along, the rounds stopped once one does not lower the
        held-out loss by 5 %, or three in a row when the race's best is
        not confirmed; see ``skmim/_engine/_amp.py``) and a refinement
        from its estimate, named ``"amp"`` and kept when its held-out loss
        is smaller by more than 5 %: near the onset of recovery the
        refinement overfits the
        training part (``h2(z1) + h2(z2)``, d = 256, n = 3 d: 512
        directional parameters for about 670 training samples) where
        message passing, which averages over the posterior, does not. At
        d = 256, n = 3 d the median distance of ``h2+h2`` went from 0.56
        to 0.10 and of ``z1*z2`` from 0.38 to 0.15 (five seeds;
        ``benchmarks/onset.py``). The refinements take steps in
        turn; they minimize the same function of the subspace, so when two
        reach the same subspace (projection distance below 0.05) the one with
        the larger held-out loss stops (its score stays in ``loss_scores_``),
        and so does one whose held-out loss has not fallen by more than
        0.1 % over five steps while it stands more than 2 % above the best
        (one that still falls goes on: near the onset the winner can crawl
        out of a saddle for 200 steps).
        On ``h2+h2`` at d = 256, n = 16 d that happened within a few steps and
        made ``"auto"`` cost 1.3 to 1.6 times one loss instead of 3 times
        (``benchmarks/fit_time_variants.py``); with
        ``solver="layerwise"``, the loss whose weakest direction stands furthest
        above its noise edge is picked by a cheap randomized block power
        iteration on each loss's second-moment matrix, and stage 1 runs once.
        The scores are in ``loss_scores_``.
    huber_delta : float, default=1.0
        Huber threshold in units of the Gaussian-consistent MAD of ``y``.
        Between 0.5 and 1.5 the spectral estimate's subspace distance moved by
        at most 0.05 on ``h2+h2``, ``z1*z2`` and ``h4+h4`` at d=128 (larger
        values lose ``h4+h4``: 0.54 at 3.0; ``benchmarks/sweeps/huber_delta.py``);
        1.0 is in the middle.
    n_steps : int or "auto", default="auto"
        Number ``T_1`` of stage-1 gradient steps. ``"auto"`` is
        ``round(1.5 sqrt(log d))`` (3 at d = 64, 4 at d = 256): it must grow
        with ``d`` (noise suppression per neuron) but slower than ``log d`` (or
        every neuron collapses onto the top eigenvector). The constant was
        measured: on ``h2+h2`` at n = 32 d the stage-2 R^2 peaks at T = 2-3 for
        d = 64 and T = 3-5 for d = 256, and falls with more steps as the
        neurons collapse (``benchmarks/sweeps/n_steps.py``).
    learning_rate : float, default=1.0
        Stage-1 step size ``eta_1``.
    weight_decay : float or None, default=None
        Stage-1 weight decay ``beta_1``; ``None`` means ``1 / learning_rate``,
        which makes each step exactly one power-iteration step (the paper's
        choice). Other values shift the spectrum, favouring eigenvalues of one
        sign.
    init_scale : float, default=1e-3
        Norm ``epsilon_0`` of each first-layer row during stage 1. Rows are
        rescaled to this norm after every step, which implements the paper's
        ``epsilon_0 -> 0`` limit without underflow; it must stay small enough
        for the network to remain in its quadratic regime.
    stage1_fraction : float in (0, 1), default=0.5
        ``solver="layerwise"`` and ``"sgd"``: fraction of the samples used to
        train the first layer; the rest fit stage 2. (The refined and grassmann
        solvers split by ``validation_fraction`` instead.) Every split is a
        seeded hash of each row, so repeated rows stay on one side and a row
        of integer weight ``k`` lands where its ``k`` copies would: the split
        is the same, the model need not be (see ``sample_weight`` in
        :meth:`fit`).
    stage2_directions : {"neurons", "subspace"}, default="neurons"
        ``solver="layerwise"``: directions of the stage-2 features: the stage-1
        neurons themselves (the paper) or the neurons projected on
        ``subspace_`` and renormalized.
    activation : {"relu", "tanh", "logcosh"}, default="relu"
        Stage-2 activation.
    alpha : float or None, default=None
        Stage-2 ridge penalty ``beta_2`` per unit weight; ``None`` chooses it
        by generalized cross-validation over a logarithmic grid.
    outer_loss : {"squared", "huber"}, default="squared"
        Loss of the outer-layer fit. ``"huber"`` (iteratively reweighted
        ridge, threshold 1.345 robust standard deviations of the residuals)
        resists heavy-tailed noise: it estimates the conditional centre of
        ``y`` rather than its mean, which differ for skewed noise. On
        ``y = tanh(2 u.x)`` plus Student-t noise with 2 degrees of freedom (d =
        200, n = 16 d, 5 seeds) the test R^2 against the noiseless signal went
        from 0.59 (median; squared) to 0.65 (Huber), the subspace distance
        0.51 and 0.49 (the Cramer-Rao bound of an estimator that knows the
        link and the noise law is about 0.30 there;
        ``benchmarks/sweeps/real_table_checks.py``).
    validation_fraction : float in (0, 1) or "auto", default="auto"
        Fraction of the samples held out to stop the refinement ("refined" and
        "grassmann" solvers) and to choose among stage-1 losses. ``"auto"``:
        0.2 up to 500 distinct rows, ``100 / n`` up to 1000, 0.1 beyond (the
        held-out part keeps at least 100 rows while it shrinks). Near the
        onset of recovery the refinements on the training part are what
        limits the estimate (the refinement continued on all samples comes
        after the choice): at d = 256, noise 0.1, 0.1 instead of 0.2 took
        ``h2(z1) h2(z2)`` at n = 8 d from 0.864 to 0.072 and ``z1 z2`` at
        n = 3 d from 0.483 to 0.286 (medians of five seeds), with the same
        R^2 on the real-data benchmark.
    link_degree : int, default=4
        Total degree of the tensor Hermite basis of the link refitted during
        refinement: all ``C(r + degree, degree)`` functions while there are
        at most 126 (r <= 5 at degree 4); beyond, functions of one
        coordinate up to this degree and products of two coordinates (of
        the highest total degree that keeps the basis within 126), so that
        a refinement step costs about as much at r = 12 as at r = 5.
    max_iter : int, default=200
        Maximum number of refinement steps. A refinement that reaches it before
        its stopping rule fires, while its held-out loss still falls by more
        than 1e-4 (relative) per step, raises a
        :class:`~sklearn.exceptions.ConvergenceWarning` (``warm_start=True``
        continues it).
    n_iter_no_change : int, default=15
        Refinement stops after this many steps without a better held-out loss,
        or earlier when the subspace has stopped moving (it moved by less than
        1e-3, in the sine of the largest principal angle, over the last five
        steps); the best subspace seen is kept. Where several starts are
        refined side by side (``solver="refined"``), this patience is the
        leader's: a start behind the best held-out loss stops after five
        steps without a better one of its own. (Scikit-learn's 10, as in
        ``MLPRegressor``, saved up to 18 % of the steps on the real-data
        benchmark, but stopped refinements that were crawling out of a
        saddle: ``h2*h2``, d = 64, n = 8 d, seed 1 reached distance 0.078
        instead of 0.055, and ``solver="grassmann"`` on ``h4+h4``, d = 64,
        n = 32 d, 0.95 instead of 0.013.)
    n_init : int, default=4
        Random starts of ``solver="grassmann"`` (the one with the smallest
        held-out loss is kept). From a random start the descent can stall at a
        saddle with only some of the directions found: at d=64, n=32d,
        ``h2+h2``, 2 of 8 single starts stalled (distance 0.7) and none of 8
        runs with 4 starts (``benchmarks/sweeps/grassmann_starts.py``).
        Unused by the other solvers.
    sgd_learning_rate : float or "auto", default="auto"
        ``solver="sgd"``: step size per sample of the per-neuron update
        ``w_j <- w_j - eta (m grad_j + lambda w_j)`` (the mini-batch gradient is
        a mean, so the step applied is ``sgd_learning_rate * sgd_batch_size``).
        ``"auto"`` is ``0.5 / d``: the noise SGD injects in the ``d - r``
        directions outside the subspace grows like ``eta d``, so a step
        ``~ 1 / d`` keeps it bounded while one pass over ``n = c d`` samples
        travels the same distance for every ``d`` (the same constant gave
        subspace distance 0.065 at d = 64 and 0.073 at d = 256 on ``tanh``,
        n = 64 d, batch 32: ``benchmarks/sweeps/sgd.py``).
    sgd_weight_decay : float, default=0.03
        ``solver="sgd"``: weight decay ``lambda``. It contracts the first-layer
        mass outside the hidden subspace: larger values leave less mass outside
        (0.28 at 0.01, 0.14 at 0.03, 0.04 at 0.1 on ``tanh``, d = 256) but shrink
        the useful part too (distance 0.064, 0.073, 0.115;
        ``benchmarks/sweeps/sgd.py``); 0.03 balances the two.
    sgd_batch_size : int, default=1
        ``solver="sgd"``: samples per SGD step (1 is the paper's online SGD).
    compress_first_layer : bool, default=False
        ``solver="sgd"``: fit the outer layer on the rank-``n_components``
        truncation ``W V V^T`` of the trained first layer instead of ``W``.
    device : {"auto", "cpu", "cuda", "mps"} or torch.device, default="auto"
        Where the two stages run: ``"auto"`` takes CUDA, then MPS, then the CPU.
        An unavailable accelerator raises ``ValueError``. Fitted attributes are
        NumPy arrays, and prediction runs on the CPU.
    dtype : {"auto", "float32", "float64"}, default="auto"
        Floating type of training: float64 on the CPU, float32 on accelerators.
    batch_size : int or None, default=None
        Rows moved to the device at a time. ``None`` moves all samples at once;
        set it to bound device memory on large data (results are the same up to
        rounding).
    whiten : bool or {"ledoit_wolf", "oas"}, default="ledoit_wolf"
        Decorrelate the standardized columns of ``X`` before training, with
        the inverse square root of a shrinkage estimate of their correlation
        matrix (scikit-learn's :func:`~sklearn.covariance.ledoit_wolf` or
        :func:`~sklearn.covariance.oas`; ``True`` is ``"ledoit_wolf"``,
        ``False`` only standardizes). The spectral start of stage 1 assumes
        isotropic inputs: on correlated columns it finds ``Sigma^{1/2} U``
        rather than ``U``. Measured (``benchmarks/sweeps/correlated.py``: d =
        128, n = 16 d, covariance condition number 100, medians of 3 seeds):
        ``mixed3`` 0.776 without whitening, 0.054 with (isotropic: 0.054
        either way); ``h2+h2`` 0.047 and 0.021 (isotropic 0.024). On isotropic
        data the shrinkage is close to complete and whitening changes little.
        ``subspace_`` stays in the coordinates of the ``X`` given.
    n_threads : int, "auto" or None, default="auto"
        CPU threads of the engine's part of ``fit`` (the previous settings
        are restored after it). They go to the thread pool that runs the
        solver's largest kernels, and the other pool runs on one thread:
        NumPy's BLAS (through ``threadpoolctl``; the Gram products) for
        every solver but ``"sgd"``, torch's for ``"sgd"``. Two pools of
        that many threads each would oversubscribe the cores (torch's idle
        threads spin-wait on the cores BLAS needs: on 2 cores, d = 1024,
        n = 16 d, 5.4 s with two threads in both against 3.6 s with two in
        BLAS alone). ``"auto"``: one thread when a pass over the data is
        small (``n d^2 < 2e9``), where idle threads spinning between small
        kernels cost more than they bring (on 2 cores, d = 256, n = 16 d:
        0.19 s with one thread, 0.31-0.34 s with two), otherwise torch's
        current setting (which ``OMP_NUM_THREADS`` and joblib's workers
        limit; d = 1024: 3.2-3.5 s with one thread, 3.2-3.3 s with two;
        d = 2048: 25.1 s and 18.0 s). None leaves both pools untouched.
        Thread counts are process-wide: fits running concurrently in
        threads of one process share them.
    warm_start : bool, default=False
        When True, ``fit`` continues from the fitted model instead of
        starting anew, as in :class:`~sklearn.neural_network.MLPRegressor`:
        with ``solver="refined"`` or ``"grassmann"`` the refinement resumes
        from ``subspace_`` (stage 1 and the choice of loss and dimension are
        not run again; ``n_components`` must be ``"auto"`` or equal
        ``n_components_``; the stage-1 records ``spectrum_``, ``history_``,
        ``loss_``, ``loss_scores_`` stay those of the fit that started it, and
        ``n_iter_`` adds up); with ``solver="sgd"`` the SGD pass continues on
        the new samples. No effect with ``solver="layerwise"`` (stage 1 is a
        fixed number ``n_steps`` of steps from a tiny initialization, and
        more steps collapse the neurons rather than refine them) nor after a
        fit whose model is linear (``loss_ == "linear"``). Use it after a
        :class:`~sklearn.exceptions.ConvergenceWarning` (the refinement
        stopped at ``max_iter``).
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the initialization and the stage-2 biases. The same
        seed, data and device give the same model.
    verbose : int, default=0
        1: a progress bar per phase (tqdm, on stderr); 2: also one line per
        training step (the logger ``"skmim"`` receives the records at any
        level, for handlers of the user's choice).

    Attributes
    ----------
    subspace_ : ndarray of shape (n_features, `n_components_`)
        Orthonormal basis of the learned hidden subspace, in the coordinates
        of the ``X`` given (the span of ``projection_``).
    projection_ : ndarray of shape (n_features, `n_components_`)
        The learned directions as they act on the input:
        ``transform(X) = (X - x_mean_) @ projection_``. Column ``j`` is the
        ``j``-th orthonormal direction learned on the standardized input,
        divided row-wise by ``x_scale_``.
    n_components_ : int
        Number of learned directions.
    stage1_weights_ : ndarray of shape (width, n_features) or None
        First-layer directions after stage 1, acting on ``X - x_mean_`` (unit
        rows on the standardized input, divided by ``x_scale_``); for ``solver="sgd"``
        the trained first layer itself; None when the kept refinement started
        from sliced inverse regression (``loss_ == "sliced"``), from the
        learned label transform (``loss_ == "learned"``) or at random, and
        when the refinement was dropped (``refined_`` False).
    hidden_weights_ : ndarray of shape (width, n_features)
        Directions used by the stage-2 features, acting on ``X - x_mean_``:
        ``predict(X) = relu(clip((X - x_mean_) @ hidden_weights_.T +
        hidden_biases_, *hidden_range_)) @ output_weights_ + (X - x_mean_) @
        linear_weights_ + intercept_``.
    hidden_biases_ : ndarray of shape (width,)
        Stage-2 biases.
    hidden_range_ : ndarray of shape (2, width)
        The interval of each neuron's pre-activation that ``predict`` clips
        to: its smallest and largest value over the training rows (a stream:
        over every block, each under the network after it), widened by a
        tenth of that range on each side. Beyond it each neuron is constant,
        so the network does not extrapolate its slopes along directions no
        training row reached (on ISLR Hitters a test row 0.7 training ranges
        out along the learned direction had been predicted far outside the
        range of ``y``); the margin keeps rows just past the training rows
        (a larger sample's tails) on the slopes.
    hidden_activation_ : str
        Stage-2 activation used.
    output_weights_ : ndarray of shape (width,)
        Outer layer ``a`` fitted in stage 2.
    linear_weights_ : ndarray of shape (n_features,)
        Linear term of the outer layer, acting on ``X - x_mean_``: after a
        refinement ("refined", "grassmann") the projections on the learned
        subspace are features of the ridge fit beside the ReLU features, so
        a link that is linear along a direction is fitted exactly. It lies
        in the span of ``projection_``; zero for "layerwise" and "sgd"
        (the published networks).
    intercept_ : float
        Intercept of the outer layer.
    alpha_ : float
        Stage-2 ridge penalty used (per unit weight, for the standardized
        ``y``: a dimensionless number).
    loss_ : str
        Stage-1 loss used (the chosen one when ``loss="auto"``), or
        ``"sliced"`` when the kept refinement started from sliced inverse
        regression, ``"learned"`` when it started from the learned label
        transform, ``"amp"`` when it started from message passing with a
        learned channel (see ``loss``), or ``"linear"`` when (with ``n_components="auto"``) the
        ridge regression on all columns predicted the held-out samples
        within one standard error of the best refinement and was kept: the
        model is then linear (``subspace_`` its direction, ``linear_weights_``
        its coefficients, ``output_weights_`` zero).
    loss_scores_ : dict
        With ``loss="auto"``: per candidate start, the held-out loss after
        refinement ("refined": smaller is better; ``"sliced"``,
        ``"learned"`` and ``"amp"`` are listed when those starts were refined) or the ratio of its weakest kept Ritz value to
        the noise edge ("layerwise": larger is better).
    spectrum_ : ndarray
        Ritz values of ``E[l'(0, y) x x^T]`` on the top singular directions of
        the first layer, by decreasing magnitude; for ``loss_ == "sliced"``
        the eigenvalues of the sliced-inverse-regression matrix, for
        ``loss_ == "learned"`` the top eigenvalues of ``E[T(y) (x x^T - I)]``,
        for ``loss_ == "amp"`` those of the start it continued.
    noise_level_ : float
        Spectrum edge expected from noise alone (of the matrix whose spectrum
        is in ``spectrum_``).
    n_iter_ : int
        Number of gradient steps taken: stage-1 steps plus refinement steps
        (of the kept run, when ``loss="auto"`` or ``n_init`` made several,
        with the steps the kept refinement continued on all samples, see
        ``refined_``), or SGD steps. For the linear model (``loss_ ==
        "linear"``, fitted in closed form): the steps of the refinement it
        was compared with.
    history_ : dict of lists
        For ``solver="sgd"``, about 50 records per pass: ``step``, ``loss``,
        ``mass_outside`` (fraction of ``|W|_F^2`` outside its top
        ``n_components`` right singular directions) and ``singular_values``
        (top ten of ``W``; ``n_components`` outliers are expected). Otherwise,
        per stage-1 step (``loss`` and ``rayleigh`` are evaluated at the
        weights before the step, ``concentration`` and ``subspace_change``
        after it): ``loss``, ``rayleigh`` (mean over neurons of
        ``|w^T Sigma_l w| / |w|^2``, which power iteration increases),
        ``concentration`` (fraction of ``|W|_F^2`` in the top singular values)
        and ``subspace_change`` (empty lists when no stage 1 ran: the
        "grassmann" solver, or ``loss_`` ``"sliced"`` or ``"learned"``).
    loss_curve_ : list of float
        Training loss per step (with ``warm_start``, a continued refinement's
        holds the continued run only, where MLPRegressor's appends; ``n_iter_``
        adds up): the refinement's training
        loss ("refined", "grassmann"; the steps on the training part, not
        those continued on all samples, which ``n_iter_`` also counts), the
        stage-1 objective ("layerwise") or the running mini-batch loss at
        each record ("sgd").
    dimension_scores_ : dict or None
        With ``n_components="auto"`` and ``solver="refined"``: the held-out
        Huber loss of the link per candidate dimension, from the last round
        of the dimension search (None otherwise).
    refined_ : bool
        Whether ``subspace_`` comes from a Grassmannian refinement (solvers
        "refined" and "grassmann"). False for "layerwise" and "sgd", and for
        "refined" when no refinement predicted the held-out samples better
        than their mean: ``subspace_`` is then the spectral estimate on all
        samples (``loss_scores_`` still holds the candidates' held-out losses).
        A kept refinement ("refined" when confirmed, "grassmann") is
        continued on all samples, the validation part included, for at most
        as many further steps as it took to its smallest held-out loss (near
        the onset of recovery the error falls steeply with the number of
        samples); ``warm_start=True`` continues from the subspace before
        those steps, which the validation part did not shape, so that its
        held-out stopping still means something.
    refine_history_ : dict of lists or None
        Per refinement step on the training part: ``train_loss``,
        ``val_loss``, ``step_size``, ``overlap`` (singular values of
        ``V_{t-1}^T V_t``) and ``link_alpha`` (None without a kept
        refinement).
    split_sizes_ : dict
        Number of samples in each part of the split (after ``partial_fit``:
        summed over the blocks of the stream).
    x_mean_ : ndarray of shape (n_features,)
        Weighted mean of ``X``, removed before projecting.
    x_scale_ : ndarray of shape (n_features,)
        Weighted standard deviation of each column of ``X`` (1 for a column
        constant up to rounding, which is then ignored).
    y_mean_, y_scale_ : float
        Weighted mean and standard deviation of ``y`` (scale 1 for a
        constant ``y``). ``loss_curve_``, ``spectrum_`` and the refinement
        records are in units of the standardized ``y``.
    device_ : str
        Device the model was trained on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    MultiIndexProjector : the feature-learning stage alone, as a transformer.
    SpectralProjector : the explicit spectral estimator the network mimics.
    sklearn.neural_network.MLPRegressor : end-to-end trained network.

    References
    ----------
    .. [1] Zhang, Wang, Fu, Lee. Neural Networks Learn Generic Multi-Index
       Models Near Information-Theoretic Limit. arXiv:2511.15120 (ICLR 2026).
    .. [2] Bietti, Bruna, Pillaud-Vivien. On Learning Gaussian Multi-index
       Models with Gradient Flow. arXiv:2310.19793.
    .. [3] Damian, Lee, Soltanolkotabi. Neural Networks can Learn
       Representations with Gradient Descent. COLT 2022 (the case n_steps=1).
    .. [4] Mousavi-Hosseini, Park, Girotti, Mitliagkas, Erdogdu. Neural Networks
       Efficiently Learn Low-Dimensional Representations with SGD. ICLR 2023,
       arXiv:2209.14863.

    Examples
    --------
    >>> from skmim import GaussianMultiIndex, MultiIndexNetRegressor
    >>> from skmim.metrics import subspace_distance
    >>> problem = GaussianMultiIndex(32, "h2+h2", noise=0.1, random_state=0)
    >>> X, y = problem.sample(4096, random_state=1)
    >>> model = MultiIndexNetRegressor(n_components=2, random_state=0).fit(X, y)
    >>> model.subspace_.shape
    (32, 2)
    >>> bool(subspace_distance(model.subspace_, problem.subspace) < 0.1)
    True
    >>> model.transform(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        **STAGE1_CONSTRAINTS,
        "stage1_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "stage2_directions": [StrOptions({"neurons", "subspace"})],
        "activation": [StrOptions({"relu", "tanh", "logcosh"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left"), None],
        "outer_loss": [StrOptions({"squared", "huber"})],
        "compress_first_layer": ["boolean"],
    }

    def __init__(
        self,
        n_components="auto",
        *,
        solver="refined",
        width=256,
        loss="auto",
        huber_delta=1.0,
        n_steps="auto",
        learning_rate=1.0,
        weight_decay=None,
        init_scale=1e-3,
        stage1_fraction=0.5,
        stage2_directions="neurons",
        activation="relu",
        alpha=None,
        outer_loss="squared",
        validation_fraction="auto",
        link_degree=4,
        max_iter=200,
        n_iter_no_change=15,
        n_init=4,
        sgd_learning_rate="auto",
        sgd_weight_decay=0.03,
        sgd_batch_size=1,
        compress_first_layer=False,
        device="auto",
        dtype="auto",
        batch_size=None,
        whiten="ledoit_wolf",
        n_threads="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.solver = solver
        self.width = width
        self.loss = loss
        self.huber_delta = huber_delta
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.init_scale = init_scale
        self.stage1_fraction = stage1_fraction
        self.stage2_directions = stage2_directions
        self.activation = activation
        self.alpha = alpha
        self.outer_loss = outer_loss
        self.validation_fraction = validation_fraction
        self.link_degree = link_degree
        self.max_iter = max_iter
        self.n_iter_no_change = n_iter_no_change
        self.n_init = n_init
        self.sgd_learning_rate = sgd_learning_rate
        self.sgd_weight_decay = sgd_weight_decay
        self.sgd_batch_size = sgd_batch_size
        self.compress_first_layer = compress_first_layer
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.whiten = whiten
        self.n_threads = n_threads
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    @atomic
    def fit(self, X, y, sample_weight=None):
        """Train the network layer-wise on ``(X, y)``.

        Parameters
        ----------
        X : array-like, torch.Tensor or dask.array.Array of shape (n_samples, n_features)
            A torch tensor (any device, with or without gradient) is copied
            to the host: the standardization and the split run in NumPy. A
            dask array is fitted blockwise, one task per row chunk, and never
            computed as a whole (the user guide's "Large data" page).
        y : array-like or torch.Tensor of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative relative weights: they are divided by their mean, so
            only their ratios matter (``c * sample_weight`` gives the same
            model for every ``c > 0``). A zero weight drops the sample. A
            weight ``k`` is not the same as ``k`` repetitions: repeating adds
            samples, which the noise edges and held-out tests count.

        Returns
        -------
        self : MultiIndexNetRegressor
        """
        X, y, sw = self._validate_fit_input(X, y, sample_weight)
        # warm_start with "sgd" continues the pass, as partial_fit: its range too
        previous_range = (getattr(self, "hidden_range_", None)
                          if self.warm_start and self.solver == "sgd" else None)
        fit, counts = self._fit_engine(X, y, sw, outer=True)
        self._set_outer(fit, counts, X, previous_range)
        return self

    @available_if(lambda self: self.solver == "sgd")
    @atomic
    def partial_fit(self, X, y, sample_weight=None):
        """Continue the online SGD pass on new samples (``solver="sgd"`` only).

        A stream: every sample of every block counts, however small the
        blocks (dask-ml's ``Incremental`` feeds a dask array block by block).
        The content hash splits each block as :meth:`fit` splits its data:
        SGD runs over the stage-1 part, and the stage-2 part joins the outer
        layer's sufficient statistics, kept current as the first layer moves
        (the arrival sums of all stage-2 rows corrected by a reservoir of up
        to 4096 of them: exact for streams of up to 4096 stage-2 rows, an
        unbiased estimate beyond); the outer layer is refitted on them after
        every block. The standardization (``x_mean_``, ``x_scale_``,
        ``whitening_``, ``y_mean_``, ``y_scale_``) is that of all samples so
        far (merged centred moments, up to the fourth for the whitening's
        shrinkage intensity: equal to one fit's to rounding), and the network
        is re-expressed in it after each block, so a small first block does
        not fix it (with ``whiten``, each block costs an eigendecomposition
        of the ``d x d`` correlation matrix: for many small blocks at large
        ``d``, ``whiten=False`` is cheaper). Sample weights are relative to
        the mean weight of all samples so far. Fitting h2+h2 at d = 16 on
        6000 rows in blocks of 50 scored within 0.01 (test R^2) of one fit
        on the same rows (the user guide's "Large data" page). After the
        first call a block may hold a single row (the split is then the
        hash's fixed threshold), and it raises no
        :class:`~skmim.SubspaceWarning` (a block is too small to judge the
        model on: score it on held-out data). ``outer_loss="huber"`` cannot
        stream (its reweighting passes over all samples): a ``ValueError``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            A torch tensor (any device, with or without gradient) is copied
            to the host: the standardization and the split run in NumPy.
        y : array-like or torch.Tensor of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MultiIndexNetRegressor
        """
        first = not hasattr(self, "stage1_weights_")
        # on every call, not only the first (scikit-learn's _fit_context skips a
        # fitted estimator's partial_fit): a parameter set between blocks is
        # checked before the block runs
        self._validate_params()
        if first:
            self._check_streamable()
        else:
            check_is_fitted(self)
            if "step" not in self.history_:
                raise ValueError(
                    "partial_fit continues an online SGD pass, but this model was fitted by "
                    "another solver: call fit with solver='sgd' first, or partial_fit on a "
                    "fresh estimator (sklearn.base.clone)."
                )
            if self.stage1_weights_.shape[0] != self.width:
                raise ValueError(
                    f"partial_fit continues an online SGD pass of a network of width "
                    f"{self.stage1_weights_.shape[0]}, but width={self.width}: set it back, or "
                    "start a new stream on a fresh estimator (sklearn.base.clone).")
        X, y, sw = self._validate_fit_input(X, y, sample_weight, reset=first)
        state = None if first else self._sgd_state()
        fit, counts = self._fit_engine(X, y, sw, outer=True, state=state)
        if not first:
            # the parts of every block so far, as n_iter_ counts every step
            counts = {part: count + self.split_sizes_.get(part, 0)
                      for part, count in counts.items()}
        self._set_outer(fit, counts, X, None if first else getattr(self, "hidden_range_", None))
        return self

    def _set_outer(self, fit, counts, X, previous_range=None):
        # the engine's network acts on standardized X and y: map it back
        stats = stats_from(self)
        self.hidden_weights_ = input_weights(fit.directions, stats)
        self.hidden_biases_ = fit.biases
        self.hidden_activation_ = self.activation
        self.output_weights_ = fit.coef * self.y_scale_
        self.linear_weights_ = (np.zeros(self.n_features_in_) if fit.linear is None else
                                input_weights(fit.linear[None, :], stats)[0]
                                * self.y_scale_)
        self.intercept_ = self.y_mean_ + self.y_scale_ * fit.intercept
        # the neurons' pre-activations over the training rows (a stream: every
        # block's, each under the network after it), to which predict clips them
        self.hidden_range_ = hidden_range(X, self.x_mean_, self.hidden_weights_,
                                          self.hidden_biases_, previous_range)
        self.alpha_ = fit.alpha
        self.split_sizes_ = counts

    def predict(self, X):
        """Predict with the fitted network.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            A torch tensor is evaluated on its own device and in its
            floating dtype (integer tensors in float64), without a copy to
            the host.

        Returns
        -------
        y_pred : ndarray, torch.Tensor or dask.array.Array of shape (n_samples,)
            A tensor on the input's device (without gradient) for a tensor
            input; a lazy dask array (one task per row chunk) for a dask
            array.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._blockwise(self.predict, X)
        if is_tensor(X):
            return tensor_module().network(
                X, self.n_features_in_, type(self).__name__, self.x_mean_, self.hidden_weights_,
                self.hidden_biases_, self.output_weights_, self.intercept_, self.linear_weights_,
                self.hidden_activation_, getattr(self, "hidden_range_", None))
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self._network_output(X)
