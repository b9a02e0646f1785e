"""
A classifier that learns its two directions
===========================================

The labels ``y = 1{h2(z1) + h2(z2) + noise > 0}`` depend on a 64-dimensional
input through two hidden directions only, and evenly: a linear classifier
sees nothing. :class:`~skmim.MultiIndexNetClassifier` learns the plane from
the class indicators (class-moment start, then the Grassmannian refinement)
and fits a logistic outer layer on neurons in it. Plotted in the learned
coordinates ``transform(X)``, the classes separate along a circle, and the
decision boundary (``predict_proba = 0.5``) follows it.

Run ``python examples/plot_classifier.py`` (a few seconds).
"""

# %%
import numpy as np
import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression

from skmim import GaussianMultiIndex, MultiIndexNetClassifier
from skmim.metrics import subspace_distance

d = 64
problem = GaussianMultiIndex(d, "h2+h2", labels="sign", noise=0.1, label_noise=0.05,
                             random_state=0)
X, y = problem.sample(32 * d, random_state=1)
X_test, y_test = problem.sample(2000, random_state=2)

clf = MultiIndexNetClassifier(random_state=0).fit(X, y)
linear = LogisticRegression(max_iter=1000).fit(X, y)
print(f"directions found: {clf.n_components_}, subspace distance "
      f"{subspace_distance(clf.subspace_, problem.subspace):.3f}")
print(f"test accuracy: skmim {clf.score(X_test, y_test):.3f}, "
      f"logistic regression {linear.score(X_test, y_test):.3f}")

# %%
# The test samples in the learned coordinates, and the decision boundary
Z = clf.transform(X_test)
fig, ax = plt.subplots(figsize=(5.5, 5))
ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="coolwarm", s=6, alpha=0.6)
# the boundary: predict_proba on a grid of the plane, mapped back to inputs
g = np.linspace(-3.5, 3.5, 121)
G1, G2 = np.meshgrid(g, g)
plane = np.column_stack([G1.ravel(), G2.ravel()])
# inputs whose coordinates are the grid points: x = x_mean + plane @ pinv(projection)
inputs = clf.x_mean_ + plane @ np.linalg.pinv(clf.projection_[:, :2])
proba = clf.predict_proba(inputs)[:, 1].reshape(G1.shape)
ax.contour(G1, G2, proba, levels=[0.5], colors="k")
ax.set_xlabel("learned direction 1")
ax.set_ylabel("learned direction 2")
ax.set_title("sign(h2(z1) + h2(z2)), d = 64: test samples")
plt.show()
