"""Shadow mode's verdict: does the challenger beat the champion on the labelled windows?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mlcycle.config.schema import ShadowConfig
from mlcycle.core.decisions.promotion import TOLERANCE, _usable, improvement

PENDING, PROMOTE, REJECT = "pending", "promote", "reject"


@dataclass(frozen=True)
class ShadowWindow:
    """One monitoring window scored by the champion and by the challenger in shadow.

    ``champion``/``challenger`` hold the primary metric on the window's labeled rows; None when the
    window had no (or too few) labels or the metric could not be computed.
    """

    window_key: str
    champion_version: str
    champion: float | None = None
    challenger: float | None = None

    @property
    def labeled(self) -> bool:
        return _usable(self.champion) and _usable(self.challenger)


@dataclass(frozen=True)
class ShadowVerdict:
    """``pending`` (keep scoring), ``promote`` or ``reject``, with the running comparison."""

    outcome: str
    reasons: tuple[str, ...]
    windows: int
    labeled: int
    mean_gain: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_shadow(
    windows: Sequence[ShadowWindow],
    policy: ShadowConfig,
    primary_metric: str,
    *,
    challenger: str,
    baseline: str | None,
    champion: str | None,
) -> ShadowVerdict:
    """Judge challenger ``challenger`` against the champion ``baseline`` it entered shadow against.

    The verdict waits for ``policy.windows`` scored windows (the first N count). Windows without
    labels count toward N but not toward the verdict. On the labeled ones the challenger is promoted
    when its mean primary-metric gain is at least ``policy.min_gain`` and it is worse on at most
    half of them; fewer than ``policy.min_labeled_windows`` labeled windows reject it (no evidence).
    A champion that moved while the challenger was in shadow rejects it: it was compared to another.
    """
    counted = list(windows[: policy.windows])
    labeled = [w for w in counted if w.labeled]
    gains = [improvement(primary_metric, w.challenger, w.champion) for w in labeled]  # type: ignore[arg-type]
    mean_gain = sum(gains) / len(gains) if gains else None
    worse = sum(g < -TOLERANCE for g in gains)
    lines = []
    for w in counted:
        if w.labeled:
            gain = improvement(primary_metric, w.challenger, w.champion)  # type: ignore[arg-type]
            lines.append(
                f"window {w.window_key}: {primary_metric} challenger v{challenger} {w.challenger:.4f} vs "
                f"champion v{w.champion_version} {w.champion:.4f} (gain {gain:+.4f})"
            )
        else:
            lines.append(
                f"window {w.window_key}: no usable labels (counts toward {policy.windows}, not the verdict)"
            )
    running = f"{len(counted)} of {policy.windows} window(s) scored, {len(labeled)} labeled" + (
        f", mean {primary_metric} gain {mean_gain:+.4f}, worse on {worse}" if mean_gain is not None else ""
    )

    def verdict(outcome: str, *head: str) -> ShadowVerdict:
        return ShadowVerdict(outcome, (*head, running, *lines), len(counted), len(labeled), mean_gain)

    if champion != baseline:
        return verdict(
            REJECT,
            f"shadow: champion moved from v{baseline or '-'} to v{champion or '-'} while v{challenger} was in "
            "shadow against it; rejected (retrain to compare against the current champion)",
        )
    if len(counted) < policy.windows:
        return verdict(PENDING, f"shadow: waiting for {policy.windows - len(counted)} more window(s)")
    if len(labeled) < policy.min_labeled_windows:
        return verdict(
            REJECT,
            f"shadow: only {len(labeled)} of {len(counted)} window(s) had labels, "
            f"promotion.shadow.min_labeled_windows is {policy.min_labeled_windows}: not enough evidence to "
            "promote (retrain once labels arrive, or lower min_labeled_windows)",
        )
    gain_ok = mean_gain is not None and mean_gain >= policy.min_gain - TOLERANCE
    majority_ok = 2 * worse <= len(labeled)
    summary = (
        f"mean {primary_metric} gain {mean_gain:+.4f} (needs >= {policy.min_gain:+.4f}), worse on {worse} "
        f"of {len(labeled)} labeled window(s) (at most half allowed)"
    )
    if gain_ok and majority_ok:
        return verdict(PROMOTE, f"shadow: beats champion v{baseline}: {summary}")
    return verdict(REJECT, f"shadow: does not beat champion v{baseline}: {summary}")
