"""Progress output for ``verbose`` fits."""

import sys
import time


class Progress:
    """Prints progress lines when ``verbose`` is positive.

    ``verbose=1`` prints every stage-1 step and every tenth refinement step,
    ``verbose>=2`` every refinement step.

    The engine reports events through a callback; this turns them into the
    progress lines a user sees (stage-1 steps, stage-2 fit, refinement).
    """

    def __init__(self, verbose, name, n_steps=None):
        self.verbose = int(verbose)
        self.name = name
        self.n_steps = n_steps
        self.start = time.perf_counter()

    def __call__(self, event, info):
        if self.verbose <= 0:
            return
        t = time.perf_counter() - self.start
        if event == "stage1_start":
            kind = ("power-iteration steps (gradient descent in its small-initialization limit)"
                    if info.get("limit") else "steps of gradient descent")
            msg = f"stage 1 with loss={info['loss']!r}: {self.n_steps} {kind}"
        elif event == "stage1_step":
            msg = (f"stage 1 step {info['step']}/{self.n_steps}: rayleigh={info['rayleigh']:.4g}, "
                   f"concentration={info['concentration']:.3f}, "
                   f"subspace change={info['subspace_change']:.3f}")
        elif event == "stage2_done":
            msg = f"stage 2 ({info['loss']}): alpha={info['alpha']:.3g}, GCV error={info['gcv']:.4g}"
        elif event == "refine_step":
            if self.verbose < 2 and info["step"] % 10 != 1:
                return
            tag = f" ({info['loss']})" if "loss" in info else ""
            msg = (f"refine{tag} step {info['step']}: train loss={info['train_loss']:.4g}, "
                   f"validation loss={info['val_loss']:.4g}, step size={info['step_size']:.3g}")
        elif event == "refine_merged":
            msg = (f"refinement from loss={info['loss']!r} reached the subspace of "
                   f"loss={info['into']!r} at step {info['step']}: stopped")
        elif event == "sliced_start":
            n = info["signal"]
            more = info.get("completed", 0)
            msg = ("sliced inverse regression start: "
                   + (f"{n} direction(s) above its noise edge"
                      + (f" and {more} from the Huber start" if more else "")
                      + ", refined as candidate 'sliced'" if n
                      else "nothing above its noise edge, not refined"))
        elif event == "refine_dropped":
            start = info.get("start", info["loss"])
            if start == "sliced":
                what = "sliced inverse regression"
            else:
                what = f"spectral estimate with loss={start!r}"
            null = (f" (null z-scores: sliced {info['z_sliced']:.2f}, spectral "
                    f"{info['z_spectral']:.2f})" if "z_sliced" in info else "")
            gain = f", difference {info['z']:+.2f} standard errors" if "z" in info else ""
            msg = (f"no refinement beat the held-out mean (best validation loss "
                   f"{info['val_loss']:.4g}, mean {info['mean_loss']:.4g}{gain}): refinement "
                   f"dropped, {what} on all samples{null}")
        elif event == "dimension_chosen":
            scores = ", ".join(f"{j}: {v:.4g}" for j, v in info["scores"].items())
            msg = (f"n_components='auto': {info['n_components']} direction(s) by held-out "
                   f"loss of the link per dimension ({scores}); the best refinement had "
                   f"{info['refined']}")
        elif event == "linear_compared":
            msg = (f"ridge regression on all columns: held-out loss {info['z']:+.2f} standard "
                   "errors from the best refinement's"
                   + (" (within one: the linear model is kept)" if info["z"] < 1.0 else ""))
        elif event == "sgd_record":
            msg = (f"sgd step {info['step']}: loss={info['loss']:.4g}, "
                   f"mass outside subspace={info['mass_outside']:.3f}")
        elif event == "restart_done":
            msg = f"random start {info['start']}: best validation loss={info['val_loss']:.4g}"
        else:
            msg = f"{event}: {info}"
        print(f"[{self.name}] {t:7.2f}s {msg}", file=sys.stdout, flush=True)
