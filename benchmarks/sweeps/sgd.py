"""SGD step size / weight decay / batch sweep behind the solver="sgd" defaults.

Arguments: d link n_over_d lr_constants weight_decays batch_sizes, e.g.

    PYTHONPATH=. python benchmarks/sweeps/sgd.py 64 tanh 64 0.5,2,8 0.01,0.1,1 32
    PYTHONPATH=. python benchmarks/sweeps/sgd.py 256 tanh 64 0.5 0.01,0.03,0.1 32

The per-sample step is lr_constant / d.
"""
import sys
import time

import numpy as np
import torch
torch.set_num_threads(1)
from skmim import GaussianMultiIndex
from skmim.metrics import subspace_distance as sd
from skmim._engine._data import Samples
from skmim._engine._sgd import init_sgd_network, sgd_pass
d=int(sys.argv[1]); link=sys.argv[2]; nd=int(sys.argv[3])
P=GaussianMultiIndex(d,link,noise=0.1,random_state=0); X,y=P.sample(nd*d,random_state=1); r=P.n_directions
for lr_c in [float(a) for a in sys.argv[4].split(",")]:
  for wd in [float(a) for a in sys.argv[5].split(",")]:
    for bs in [int(a) for a in sys.argv[6].split(",")]:
      gen=torch.Generator().manual_seed(0)
      W,b,a=init_sgd_network(512,d,gen,torch.device("cpu"),torch.float64)
      s=Samples(X,y,np.ones(len(y)),torch.device("cpu"),torch.float64,batch_size=bs)
      t=time.time()
      W,h=sgd_pass(s,W,b,a,learning_rate=lr_c*bs/d,weight_decay=wd,track_components=r)
      _,V=torch.linalg.eigh(W.T@W)
      print(f"lr {lr_c}/d wd {wd} bs {bs}: dist {sd(V[:,-r:].numpy(),P.subspace):.3f} outside {h['mass_outside'][-1]:.3f} sv {np.round(h['singular_values'][-1][:4],2)} loss {h['loss'][-1]:.3f} {time.time()-t:.1f}s",flush=True)
