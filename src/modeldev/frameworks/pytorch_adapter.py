"""pytorch_nn: a two-hidden-layer MLP in PyTorch with early stopping and staged evaluation.

Staged evaluation over `epochs` works because nothing in training depends on the epoch budget:
the shuffles come from a seeded generator, dropout from the seeded global RNG, and there is no
schedule. A run with budget v therefore follows the long run's first v epochs exactly and ends
with the best weights among epochs 1..min(v, stop). The fit keeps, in memory, the weights such a
run would end with (each improvement with early stopping, every epoch without), so any smaller
budget is read off one fit. Those checkpoints are not pickled: they would inflate the saved model
many times over, so stage on the fitted model where it was trained.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modeldev.data.split import TrainingRows
from modeldev.frameworks.base import FitContext, FittedModel
from modeldev.frameworks.nets import NetFramework, early_stopping_rows, target_scaling

PREDICT_CHUNK = 65_536


def _build_net(spec: dict[str, Any]) -> Any:
    import torch.nn as nn

    return nn.Sequential(
        nn.Linear(spec["n_in"], spec["layer1_units"]), nn.ReLU(), nn.Dropout(spec["dropout"]),
        nn.Linear(spec["layer1_units"], spec["layer2_units"]), nn.ReLU(),
        nn.Dropout(spec["dropout"]), nn.Linear(spec["layer2_units"], spec["n_out"]))


def _cpu_state(net: Any) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


class TorchMLP:
    """Fitted core: the net on CPU plus what predicting needs; pickles as plain arrays."""

    def __init__(self, spec: dict[str, Any], task: str, y_mean: float, y_std: float) -> None:
        self.spec, self.task, self.y_mean, self.y_std = spec, task, y_mean, y_std
        self.net = _build_net(spec)
        self.history_: list[dict[str, float]] = []
        self.fallback_reason_: str | None = None
        self.stopped_reason_: str | None = None  # "early_stopping", "cancelled" or None
        self.epochs_run_ = 0
        self.checkpoints_: list[tuple[int, dict[str, Any]]] | None = []

    def _outputs(self, Xt: np.ndarray, state: dict[str, Any] | None = None) -> np.ndarray:
        import torch

        net = self.net
        if state is not None:
            net = _build_net(self.spec)
            net.load_state_dict(state)
        net.eval()
        parts = []
        with torch.inference_mode():
            for start in range(0, max(len(Xt), 1), PREDICT_CHUNK):
                x = torch.as_tensor(np.asarray(Xt[start:start + PREDICT_CHUNK], np.float32))
                out = net(x).double()
                parts.append(out.softmax(dim=1) if self.task != "regression" else out[:, 0])
        res = torch.cat(parts).numpy()
        return res * self.y_std + self.y_mean if self.task == "regression" else res

    def predict_proba(self, Xt: np.ndarray) -> np.ndarray:
        """Class probabilities (classification only)."""
        return self._outputs(Xt)

    def predict(self, Xt: np.ndarray) -> np.ndarray:
        """Class indices, or floats for regression."""
        out = self._outputs(Xt)
        return out if self.task == "regression" else out.argmax(axis=1)

    def staged_output(self, Xt: np.ndarray, epochs: int) -> np.ndarray:
        """Outputs a separate fit with this epoch budget would give (see the module docstring)."""
        if self.checkpoints_ is None:
            raise RuntimeError("epoch checkpoints are kept in memory only and this model was "
                               "unpickled; stage on the model where it was fitted")
        if self.stopped_reason_ == "cancelled":
            raise RuntimeError("the fit was cancelled, so its checkpoints are incomplete")
        if epochs > self.spec["epochs"]:
            raise ValueError(f"cannot stage {epochs} epochs from a fit of {self.spec['epochs']}")
        # Checkpoints stop where training stopped, so a budget past an early stop reads the same.
        usable = [state for epoch, state in self.checkpoints_ if epoch <= epochs]
        if not usable:
            raise RuntimeError(f"no checkpoint within the first {epochs} epochs (loss not finite)")
        return self._outputs(Xt, usable[-1])

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("net", "checkpoints_")}
        state["weights"] = {k: v.numpy().copy() for k, v in _cpu_state(self.net).items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import torch

        weights = state.pop("weights")
        self.__dict__.update(state)
        self.checkpoints_ = None
        self.net = _build_net(self.spec)
        self.net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        self.net.eval()


def _run_epoch(net: Any, opt: Any, loss_fn: Any, X: Any, y: Any, batch: int, gen: Any) -> float:
    import torch

    net.train()
    perm = torch.randperm(len(X), generator=gen).to(X.device)
    total = torch.zeros((), device=X.device)
    for start in range(0, len(X), batch):
        idx = perm[start:start + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(X[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    return float(total) / max(len(X), 1)


def _val_loss(net: Any, loss_fn: Any, X: Any, y: Any) -> float:
    import torch

    net.eval()
    with torch.inference_mode():
        return float(loss_fn(net(X), y))


def _tensors(Xt: np.ndarray, y: np.ndarray, core: TorchMLP, device: str) -> tuple[Any, Any]:
    import torch

    X = torch.as_tensor(np.asarray(Xt, np.float32), device=device)
    if core.task == "regression":
        scaled = (np.asarray(y, np.float64) - core.y_mean) / core.y_std
        return X, torch.as_tensor(scaled.astype(np.float32)[:, None], device=device)
    return X, torch.as_tensor(np.asarray(y, np.int64), device=device)


def _train(core: TorchMLP, data: tuple[Any, Any, Any, Any], params: dict[str, Any],
           ctx: FitContext, name: str, class_weights: np.ndarray | None = None) -> None:
    import torch

    X, y, Xv, yv = data
    net, patience, n = core.net, int(params["patience"]), int(params["epochs"])
    opt = torch.optim.Adam(net.parameters(), lr=float(params["learning_rate"]))
    weight = None if class_weights is None else torch.as_tensor(
        class_weights.astype(np.float32), device=X.device)
    loss_fn = (torch.nn.MSELoss() if core.task == "regression"
               else torch.nn.CrossEntropyLoss(weight=weight))
    gen = torch.Generator().manual_seed(ctx.seed)
    best, wait = float("inf"), 0
    for epoch in range(1, n + 1):
        if ctx.should_stop():
            core.stopped_reason_ = "cancelled"
            break
        loss = _run_epoch(net, opt, loss_fn, X, y, int(params["batch_size"]), gen)
        val = _val_loss(net, loss_fn, Xv, yv) if Xv is not None else float("nan")
        core.epochs_run_ = epoch
        core.history_.append({"epoch": epoch, "loss": loss, "val_loss": val})
        ctx.on_progress({"type": "epoch", "framework": name, "epoch": epoch, "epochs": n,
                         "loss": loss, "val_loss": val})
        improved = val < best  # NaN never improves
        best, wait = (val, 0) if improved else (best, wait + 1)
        if (improved or patience == 0) and core.checkpoints_ is not None:
            core.checkpoints_.append((epoch, _cpu_state(net)))
        if patience and wait >= patience:
            core.stopped_reason_ = "early_stopping"
            break
    if patience and core.checkpoints_:
        net.load_state_dict(core.checkpoints_[-1][1])


def _fit_on(device: str, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
            ctx: FitContext, name: str) -> TorchMLP:
    import torch

    torch.manual_seed(ctx.seed)
    n_out = 1 if rows.task == "regression" else rows.n_classes
    spec = {"n_in": int(Xt.shape[1]), "n_out": n_out, "epochs": int(params["epochs"]),
            "layer1_units": int(params["layer1_units"]),
            "layer2_units": int(params["layer2_units"]), "dropout": float(params["dropout"])}
    fit, stop = early_stopping_rows(rows.y, rows.task, ctx.seed, int(params["patience"]))
    core = TorchMLP(spec, rows.task, *target_scaling(rows.y[fit], rows.task))
    core.net.to(device)
    stopping = (None, None) if stop is None else _tensors(Xt[stop], rows.y[stop], core, device)
    data = (*_tensors(Xt[fit] if stop is not None else Xt, rows.y[fit], core, device), *stopping)
    _train(core, data, params, ctx, name, rows.class_weights)
    core.net.to("cpu").eval()  # predictions and pickles work on CPU-only machines
    if device == "cuda":
        del data
        torch.cuda.empty_cache()  # hand the cached blocks back to the frameworks that follow
    return core


class PyTorchNetAdapter(NetFramework):
    """pytorch_nn: MLP (two hidden layers, dropout, Adam), early stopping on its stopping rows."""

    name = "pytorch_nn"
    prefix_param = "epochs"
    requirements = ("scikit-learn", "torch")
    import_name = "torch"
    gpu_library = "torch"
    grid_extra = {"epochs": [50, 100, 200]}

    def gpu_check(self) -> tuple[bool, str]:
        """Whether torch sees a CUDA device."""
        import torch

        if torch.cuda.is_available():
            return True, f"torch sees {torch.cuda.device_count()} CUDA device(s)"
        return False, f"torch {torch.__version__} sees no CUDA device"

    def fit_core(self, Xt: np.ndarray, rows: TrainingRows, params: dict[str, Any],
                 ctx: FitContext) -> tuple[Any, str]:
        """Train on the GPU when asked and visible, else on CPU; a failing GPU fit reruns on CPU."""
        import torch

        device, reason = "cpu", None
        if ctx.device == "gpu":
            if torch.cuda.is_available():
                device = "cuda"
            else:
                reason = f"torch {torch.__version__} sees no CUDA device; ran on CPU"
        previous = torch.get_num_threads()
        if ctx.n_threads:
            torch.set_num_threads(int(ctx.n_threads))
        try:
            core = self._fit_with_fallback(device, Xt, rows, params, ctx)
        finally:
            torch.set_num_threads(previous)
        core.fallback_reason_ = core.fallback_reason_ or reason
        return core, "gpu" if core.fallback_reason_ is None and device == "cuda" else "cpu"

    def _fit_with_fallback(self, device: str, Xt: np.ndarray, rows: TrainingRows,
                           params: dict[str, Any], ctx: FitContext) -> TorchMLP:
        try:
            return _fit_on(device, Xt, rows, params, ctx, self.name)
        except RuntimeError as exc:  # CUDA out of memory, driver or kernel errors
            if device == "cpu":
                raise
            core = _fit_on("cpu", Xt, rows, params, ctx, self.name)
            core.fallback_reason_ = f"GPU fit failed ({str(exc)[:200]}); ran on CPU"
            return core

    def staged_outputs(self, model: FittedModel, Xt: np.ndarray,
                       values: list[int]) -> dict[int, np.ndarray]:
        """Per epoch budget: probabilities or predictions equal to a separate fit's."""
        return {int(v): model.core.staged_output(Xt, int(v)) for v in values}
