"""Progress of a fit: tqdm bars, printed records and the ``skmim`` logger.

The engine reports events through a callback; :class:`Progress` turns them
into what a user sees:

- every event becomes a record of the ``logging`` logger ``"skmim"``
  (``DEBUG`` for per-step records, ``INFO`` for the decisions of a fit:
  stage 2, merged and dropped refinements, the chosen dimension), whatever
  ``verbose`` is, so an application routes them with the standard logging
  configuration (a handler, e.g. ``logging.basicConfig()``, and
  ``logging.getLogger("skmim").setLevel(logging.INFO)``; the logger has no
  handler of its own);
- ``verbose >= 1`` shows one tqdm progress bar per phase (stage 1 per loss,
  each refinement, the SGD pass), on standard error;
- ``verbose >= 2`` also prints every record (through ``tqdm.write``, so the
  lines do not break the bars), on standard output.
"""

import logging
import sys
import time

logger = logging.getLogger("skmim")

# events reported once per training step (DEBUG); the others are decisions (INFO)
STEP_EVENTS = ("stage1_step", "refine_step", "sgd_record")


def _message(event, info, n_steps):
    """The text of one record."""
    if event == "stage1_start":
        kind = ("power-iteration steps (gradient descent in its small-initialization limit)"
                if info.get("limit") else "steps of gradient descent")
        return f"stage 1 with loss={info['loss']!r}: {n_steps} {kind}"
    if event == "stage1_step":
        return (f"stage 1 step {info['step']}/{n_steps}: rayleigh={info['rayleigh']:.4g}, "
                f"concentration={info['concentration']:.3f}, "
                f"subspace change={info['subspace_change']:.3f}")
    if event == "stage2_done":
        return (f"stage 2 ({info['loss']}): ridge penalty alpha={info['alpha']:.3g}, "
                f"GCV error={info['gcv']:.4g}")
    if event == "refine_step":
        tag = f" ({info['loss']})" if "loss" in info else ""
        return (f"refine{tag} step {info['step']}: train loss={info['train_loss']:.4g}, "
                f"validation loss={info['val_loss']:.4g}, step size={info['step_size']:.3g}")
    if event == "refine_merged":
        return (f"refinement from loss={info['loss']!r} reached the subspace of "
                f"loss={info['into']!r} at step {info['step']}: stopped")
    if event == "refine_pruned":
        return (f"refinement from loss={info['loss']!r} stopped at step {info['step']}: its "
                f"validation loss {info['val_loss']:.4g}, above the best {info['best']:.4g}, "
                f"did not fall over its last steps")
    if event == "sliced_start":
        n, more = info["signal"], info.get("completed", 0)
        if not n:
            return ("sliced inverse regression start: no direction above its noise edge, "
                    "so this start is skipped (normal for even links)")
        return ("sliced inverse regression start: "
                f"{n} direction(s) above its noise edge"
                + (f" and {more} from the Huber start" if more else "")
                + ", refined as candidate 'sliced'")
    if event == "learned_start":
        return (f"learned label transform: {info['rounds']} round(s) from the "
                f"{info['from']!r} start, refined as candidate 'learned'")
    if event == "amp_round":
        return (f"message passing with the learned channel, round {info['round']}: "
                f"starting noise {info['noise']:.4g}, held-out loss of the link "
                f"{info['val_loss']:.4g}")
    if event == "amp_result":
        if not info["gained"]:
            return ("message passing with the learned channel: no round improved the "
                    "held-out loss of the best refinement's link; not refined")
        return (f"message passing with the learned channel: refined as candidate 'amp', "
                f"best validation loss {info['val_loss']:.4g} against "
                f"{info['race_val_loss']:.4g} for the best start"
                + (" (kept)" if info["kept"] else ""))
    if event == "refine_dropped":
        start = info.get("start", info["loss"])
        what = ("sliced inverse regression" if start == "sliced"
                else f"spectral estimate with loss={start!r}")
        null = (f" (null z-scores: sliced {info['z_sliced']:.2f}, spectral "
                f"{info['z_spectral']:.2f})" if "z_sliced" in info else "")
        gain = f", difference {info['z']:+.2f} standard errors" if "z" in info else ""
        return (f"no refinement beat the held-out mean (best validation loss "
                f"{info['val_loss']:.4g}, mean {info['mean_loss']:.4g}{gain}): refinement "
                f"dropped, {what} on all samples{null}")
    if event == "refine_polished":
        return (f"refinement continued on all samples (validation part included) for "
                f"{info['steps']} step(s), at most {info['budget']}: the steps after which "
                "its held-out loss was smallest")
    if event == "dimension_chosen":
        scores = ", ".join(f"{j}: {v:.4g}" for j, v in info["scores"].items())
        return (f"n_components='auto': {info['n_components']} direction(s) by held-out "
                f"loss of the link per dimension ({scores}); the best refinement had "
                f"{info['refined']}")
    if event == "linear_compared":
        return (f"ridge regression on all columns: held-out loss {info['z']:+.2f} standard "
                "errors from the best refinement's"
                + (" (within one: the linear model is kept)" if info["z"] < 1.0 else ""))
    if event == "sgd_record":
        return (f"sgd step {info['step']}: loss={info['loss']:.4g}, "
                f"mass outside subspace={info['mass_outside']:.3f}")
    if event == "restart_done":
        return f"random start {info['start']}: best validation loss={info['val_loss']:.4g}"
    return f"{event}: {info}"


class Progress:
    """Receives the engine's events during one fit (see the module docstring).

    Parameters
    ----------
    verbose : int
        0: logger records only; 1: a progress bar per phase; 2: the bars and
        every record printed.
    name : str
        Estimator name, at the start of each record.
    n_steps : int, optional
        Stage-1 steps (the length of a stage-1 bar).
    max_iter : int, optional
        Refinement step budget (the length of a refinement bar).
    """

    def __init__(self, verbose, name, n_steps=None, max_iter=None):
        self.verbose = int(verbose)
        self.name = name
        self.n_steps = n_steps
        self.max_iter = max_iter
        self.start = time.perf_counter()
        self.restarts = 0
        self._key = self._open = self._stage1_loss = None
        self._best = {}

    @property
    def step_records(self):
        """Whether the per-step records are shown or logged (the engine may skip
        computing those it need not report: stage 1's records of the losses it
        does not keep, :func:`._engine._common._stage1`)."""
        return self.verbose >= 1 or logger.isEnabledFor(logging.DEBUG)

    def __call__(self, event, info):
        if self.verbose >= 1:
            self._bar(event, info)
        level = logging.DEBUG if event in STEP_EVENTS else logging.INFO
        if not (self.verbose >= 2 or logger.isEnabledFor(level)):
            return
        msg = _message(event, info, self.n_steps)
        logger.log(level, "[%s] %s", self.name, msg)
        if self.verbose >= 2:
            from tqdm.auto import tqdm

            t = time.perf_counter() - self.start
            tqdm.write(f"[{self.name}] {t:7.2f}s {msg}", file=sys.stdout)

    def _bar(self, event, info):
        """Advance the bar of the phase that ``event`` belongs to.

        Phases run one after the other, so one bar is open at a time: stage
        1 per loss, the refinement (the candidates' interleaved steps share
        one bar, which counts rounds), each refinement of the dimension
        search, each random start, the SGD pass.
        """
        if event == "stage1_start":
            self._stage1_loss = info["loss"]
        if event in ("stage1_start", "stage1_step"):
            loss = self._stage1_loss
            key, desc, total = ("stage1", loss), f"stage 1 ({loss})", self.n_steps
        elif event == "refine_step":
            tag = str(info.get("loss", ""))
            if tag.startswith("r="):
                key, desc = ("dimension", tag), f"refinement at {tag}"
            else:
                key = ("refine", self.restarts)
                desc = "refinement" + (f" (start {self.restarts + 1})" if self.restarts else "")
            total = self.max_iter
        elif event == "sgd_record":
            key, desc, total = ("sgd",), "sgd pass", None
        else:
            if event == "restart_done":
                self.restarts += 1
            return
        if key != self._key:
            self.close()
            from tqdm.auto import tqdm

            self._key = key
            self._open = tqdm(total=total, desc=f"[{self.name}] {desc}", unit="step",
                              dynamic_ncols=True)
        bar = self._open
        if event == "stage1_step":
            bar.update(1)
        elif event == "refine_step":
            bar.update(max(info["step"] - bar.n, 0))
            self._best[key] = min(self._best.get(key, float("inf")), info["val_loss"])
            bar.set_postfix(best_val=f"{self._best[key]:.4g}", refresh=False)
        elif event == "sgd_record":
            bar.update(info["step"] - bar.n)
            bar.set_postfix(loss=f"{info['loss']:.4g}", refresh=False)

    def close(self):
        """Close the open bar (a refinement that stopped early shows where it stopped)."""
        if self._open is not None:
            self._open.close()
        self._key = self._open = None
