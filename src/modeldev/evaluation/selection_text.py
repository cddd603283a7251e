"""The one sentence that says why the winner won: only what the tests showed, nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Standing:
    """Where the other candidates stand against the winner, by name."""

    same: list[str] = field(default_factory=list)  # equal means (the tie band)
    unclear: list[str] = field(default_factory=list)  # in the tier, not in the band
    out: list[str] = field(default_factory=list)  # shown not to be the best
    equivalent: list[str] = field(default_factory=list)  # within the margin, band excluded


def _names(names: list[str]) -> str:
    return ", ".join(names)


def _verb(names: list[str], singular: str, plural: str) -> str:
    return singular if len(names) == 1 else plural


def reason(winner: str, mean: float, standing: Standing, metric: str, margin: object,
           best: tuple[str, float, object] | None = None) -> str:
    """Why `winner` won, and where each other candidate stands, in plain words (`best`: the
    framework with the best mean, its mean and the standard error of that mean)."""
    if best is not None and best[0] != winner and best[0] not in standing.same:
        se = best[2] if isinstance(best[2], float) else float("nan")
        text = (f"{winner} is the simplest framework whose mean {metric} ({mean:.4g}) is within "
                f"one standard error ({se:.2g}) of the best mean ({best[0]}, {best[1]:.4g}) and "
                "that cannot be told apart from the best (the one-standard-error rule)")
    else:
        text = f"{winner} has the best mean {metric} ({mean:.4g})"
    same, unclear, out, equivalent = (standing.same, standing.unclear, standing.out,
                                      standing.equivalent)
    if same:
        text += (f", the same as {_names(same)}'s within the tie band, and is listed first "
                 "(the simpler family)")
    if not (same or unclear or out):
        return text + "; it was the only candidate."
    parts = []
    if unclear:
        parts.append(f"{_names(unclear)} {_verb(unclear, 'is', 'are')} not distinguishable "
                     "from it (the data cannot tell them apart at 5 %, all comparisons at once; "
                     "that is not a claim that they are as good)")
    if out and not unclear and not same:
        parts.append("every other framework is shown not to be the best (another framework "
                     "beats each at 5 %, all comparisons at once)")
    elif out:
        parts.append(f"{_names(out)} {_verb(out, 'is', 'are')} shown not to be the best "
                     f"(another framework beats {_verb(out, 'it', 'each')} at 5 %, all "
                     "comparisons at once)")
    if equivalent:
        parts.append(f"{_names(equivalent)} {_verb(equivalent, 'is', 'are')} practically "
                     f"equivalent to it (within +-{margin:.3g} with posterior probability "
                     ">= 0.95)")
    return text + "; " + "; ".join(parts) + "." if parts else text + "."
