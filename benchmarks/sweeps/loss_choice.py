"""Which stage-1 loss to refine from: per loss, the layerwise (stage-1) and refined distances and the held-out loss after refinement, plus the grassmann solver and the spectral estimator. Argument: d.

    PYTHONPATH=. python benchmarks/sweeps/loss_choice.py 64
"""
import sys
import warnings

import torch
warnings.simplefilter("ignore"); torch.set_num_threads(1)
from skmim import GaussianMultiIndex, MultiIndexProjector, SpectralProjector
from skmim.metrics import subspace_distance as sd
d=int(sys.argv[1])
for link, nd in [("h4+h4",32),("mixed3",16),("h2+h2",4),("z1*z2",4)]:
  for seed in [0,1]:
    P=GaussianMultiIndex(d,link,noise=0.1,random_state=seed); X,y=P.sample(nd*d,random_state=seed+1); r=P.n_directions
    out=[]
    for loss in ["auto","huber","squared","abs"]:
        a=MultiIndexProjector(solver="layerwise",loss=loss,n_components=r,random_state=seed).fit(X,y)
        b=MultiIndexProjector(loss=loss,n_components=r,random_state=seed).fit(X,y)
        out.append(f"{loss}[{b.loss_}]: s1 {sd(a.subspace_,P.subspace):.2f} ref {sd(b.subspace_,P.subspace):.2f} it {b.n_iter_} val {min(b.refine_history_['val_loss']):.3f}")
    g=MultiIndexProjector(solver="grassmann",n_components=r,random_state=seed).fit(X,y)
    sp=SpectralProjector(n_components=r,loss="auto").fit(X,y)
    print(link,nd,seed,"|"," | ".join(out),f"| grass {sd(g.subspace_,P.subspace):.2f} val {g.loss_scores_['squared']:.3f} | spec[{sp.loss_}] {sd(sp.subspace_,P.subspace):.2f}",flush=True)
