"""Width sweep behind width=256: default solver at d = 256, seed 0; fit time on one thread.

    PYTHONPATH=. python benchmarks/sweeps/width.py
"""
import numpy as np, warnings, torch, time
warnings.simplefilter("ignore"); torch.set_num_threads(1)
from skmim import *
from skmim.metrics import subspace_distance as sd
from sklearn.neural_network import MLPRegressor
for link, nd in [("h2+h2",8),("h2+h2",16),("mixed3",16),("h4+h4",32)]:
    seed=0
    P=GaussianMultiIndex(256,link,noise=0.1,random_state=seed); X,y=P.sample(nd*256,random_state=10000+seed); Xt,yt=P.sample(10000,random_state=20000+seed)
    for w in [128,256,512]:
        t=time.time(); m=MultiIndexNetRegressor(n_components=P.n_directions,width=w,random_state=seed).fit(X,y); el=time.time()-t
        print(link,nd,w,"dist %.3f R2 %.3f loss %s %.2fs"%(sd(m.subspace_,P.subspace),m.score(Xt,yt),m.loss_,el),flush=True)
    if link=="h2+h2" and nd==16:
        t=time.time(); MLPRegressor(random_state=0).fit(X,y); print("MLP default %.2fs"%(time.time()-t))
