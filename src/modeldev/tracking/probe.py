"""`python -m modeldev.tracking.probe MODEL_FOLDER`: a model's serving figures, measured in a
fresh process, printed as one JSON object.

What a process serving the model pays, as `mlflow models serve` would: MLflow is imported
before the clock starts; the load (unpickling, and importing the model's own libraries) is
the cold load; then the first prediction, p50/p95 latency of `pyfunc.predict` at batch 1 and
1,024 (rows drawn from the model's input example), the process's resident memory before and
after the load, and its peak.
The parent (`serving.card`) fetched and checked the folder's signature before starting this.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPEATS = (100, 30)  # calls at batch 1 and 1,024, at most
BUDGET_S = (1.5, 2.5)  # and seconds at most per batch size


def memory_mib(field: str) -> float:
    """This process's resident memory (`VmRSS`) or its peak (`VmHWM`), in MiB. Not
    `ru_maxrss`: Linux carries that across exec, so a child started by a large process would
    report its parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # elsewhere: the peak


def _facts(model: Any) -> dict[str, Any]:
    """Task, classes and decision threshold of a model modeldev logged (else nothing)."""
    from modeldev.tracking.models import fitted_of

    fitted = fitted_of(model)
    if fitted is None:
        return {}
    return {"framework": fitted.framework, "task": fitted.task,
            "classes": [str(c) for c in fitted.classes],
            "decision_threshold": fitted.decision_threshold}


def measure(folder: Path) -> dict[str, Any]:
    """Load the model in `folder` and measure it; the figures and the model's facts."""
    import mlflow.pyfunc

    from modeldev.evaluation.latency import batch_of, latency_figures

    before = memory_mib("VmRSS")
    started = time.perf_counter()
    model = mlflow.pyfunc.load_model(str(folder))
    load_s = time.perf_counter() - started
    loaded = memory_mib("VmRSS")
    example = model.input_example
    if example is None or len(example) == 0:
        raise ValueError("the model has no input example to draw rows from")
    started = time.perf_counter()
    model.predict(batch_of(example, 1))
    first_s = time.perf_counter() - started
    figures = latency_figures(model.predict, example, REPEATS, BUDGET_S)
    return {"cold_load_seconds": load_s, "first_prediction_seconds": first_s, **figures,
            "memory_before_load_mib": before, "memory_after_load_mib": loaded,
            "peak_memory_mib": memory_mib("VmHWM"),
            "facts": _facts(model)}


def main(argv: list[str]) -> int:
    """Measure the model folder named in `argv` and print the JSON object on stdout."""
    print(json.dumps(measure(Path(argv[0]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
