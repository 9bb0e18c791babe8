"""The chaos benchmark's printout: one block per fault, a table per fault kind, and the one-line figure last."""

from __future__ import annotations

from collections import defaultdict

from bench.chaos.run import Outcome


def detail(outcome: Outcome) -> str:
    """One fault's lines: when it struck, what ran, what it cost, what differs."""
    cost = outcome.cost
    head = (f"{outcome.fault} at {outcome.at_s:.1f}s: " + ("injected" if outcome.injected else
            "NOT injected (the search ended first)") + f"; {', '.join(outcome.commands)}; "
            + ("recovered" if outcome.recovered else "NOT recovered"))
    lines = [head]
    if outcome.notes:
        lines.append(f"  fault: {outcome.notes}")
    if cost is not None:
        lines.append(f"  completed trials re-run {len(cost.rerun)}, target steps lost {cost.steps_lost}, "
                     f"intermediate build interrupted {cost.intermediate_restarted}, phase rebuilds {cost.rebuilds}")
    if outcome.message and not outcome.recovered or outcome.message.startswith("error:"):
        lines.append(f"  message: {outcome.message}")
    lines += [f"  differs from reference: {m}" for m in outcome.mismatches]
    lines += [f"  corrupt: {c}" for c in outcome.corrupt]
    return "\n".join(lines)


def table(outcomes: list[Outcome]) -> str:
    """Per fault kind: faults, recovered, trials re-run, max steps lost, results equal, corrupt files."""
    kinds: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        kinds[outcome.fault].append(outcome)
    rows = ["| fault | injected | recovered | completed trials re-run | max target steps lost | intermediate builds "
            "restarted | results equal reference | corrupt or half-written files |", "|---" * 8 + "|"]
    for kind, group in kinds.items():
        injected = [o for o in group if o.injected]
        rows.append(
            f"| {kind} | {len(injected)}/{len(group)} | {sum(o.recovered for o in group)}/{len(group)} | "
            f"{sum(len(o.cost.rerun) for o in group if o.cost)} | "
            f"{max((o.cost.steps_lost for o in group if o.cost), default=0)} | "
            f"{sum(o.cost.intermediate_restarted for o in injected if o.cost)} | "
            f"{sum(not o.mismatches for o in group)}/{len(group)} | {sum(len(o.corrupt) for o in group)} |")
    return "\n".join(rows)


def figure(outcomes: list[Outcome], interval: int) -> str:
    """The last line.

    >>> print(figure([], 4))  # doctest: +NORMALIZE_WHITESPACE
    chaos: 0/0 recovered, 0 trials re-run, max steps lost 0 (one interval 4), 0 corrupt files,
    0/0 results equal the reference (target: all recovered, nothing re-run, nothing corrupt)
    """
    recovered = sum(o.recovered for o in outcomes)
    rerun = sum(len(o.cost.rerun) for o in outcomes if o.cost)
    lost = max((o.cost.steps_lost for o in outcomes if o.cost), default=0)
    corrupt = sum(len(o.corrupt) for o in outcomes)
    equal = sum(not o.mismatches for o in outcomes)
    return (f"chaos: {recovered}/{len(outcomes)} recovered, {rerun} trials re-run, max steps lost {lost} "
            f"(one interval {interval}), {corrupt} corrupt files, {equal}/{len(outcomes)} results equal the reference "
            "(target: all recovered, nothing re-run, nothing corrupt)")
