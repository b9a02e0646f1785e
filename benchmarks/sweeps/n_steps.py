"""T_1 sweep behind n_steps="auto" (solver="layerwise", loss="huber", h2+h2, n = 32 d, 2 seeds).

    PYTHONPATH=. python benchmarks/sweeps/n_steps.py
"""
import numpy as np, torch, warnings
warnings.simplefilter("ignore")
torch.set_num_threads(1)
from skmim import GaussianMultiIndex, MultiIndexNetRegressor
from skmim.metrics import subspace_distance as sd, neuron_alignment as na
for d in [64, 256]:
    P=GaussianMultiIndex(d,"h2+h2",noise=0.1,random_state=0); Xt,yt=P.sample(5000,random_state=9)
    for T in [1,2,3,4,5,6,8,10]:
        res=[]
        for seed in [0,1]:
            X,y=P.sample(32*d,random_state=seed+1)
            m=MultiIndexNetRegressor(solver="layerwise",loss="huber",n_components=2,n_steps=T,random_state=seed).fit(X,y)
            res.append((na(m.stage1_weights_,P.subspace), m.score(Xt,yt), sd(m.subspace_,P.subspace)))
        a,r2,dist=np.mean(res,axis=0)
        print(f"d={d} T={T}: alignment {a:.3f} R2 {r2:.3f} dist {dist:.3f}  (auto T = {int(np.ceil(2*np.sqrt(np.log(d))))})", flush=True)
