"""Fault injection: a small search broken at random moments, recovered the documented way, and what each fault cost.

`python -m bench chaos [--faults N] [--seed S] [--kinds K1,K2] [--start I] [--smoke] [--keep DIR]`

First an uninterrupted reference search (`bench/chaos/search.py`: two fixed trials, MNLI then no intermediate task,
tiny model, generated data, target checkpoints every 4 steps, one trial at a time). Then N faults, the kinds taken
in turn (`faults.py`), each on a fresh run of the same search: the fault strikes at a moment drawn from the seed
(uniform over 10-90 % of the reference's wall time, or as soon after as it can: a Train worker must exist to be
killed), then the run is recovered the way the docs say (`raytl resume RUN_DIR` whenever `raytl search` did not
finish cleanly, after removing the cause). Per fault: recovered or not; completed trials run again; target steps
reported before the fault and trained again; results (dev, selected step, test scores per trial) equal to the
reference's; every file of the run read back (`integrity.py`). A table per fault kind and the one-line figure
come last. `--smoke` runs one `corrupt_file` fault (a file damaged, the driver killed, `raytl resume`): the test
suite's smoke test.

Every `raytl` process runs in its own session and Ray's temporary files follow RAY_TMPDIR, as the caller set it;
the benchmark ends only the processes of those sessions, and its PostgreSQL and S3 servers are its own.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.chaos.faults import FAULTS
from bench.chaos.report import detail, figure, table
from bench.chaos.run import reference, run_fault
from bench.chaos.search import EVAL_EVERY


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--smoke"])  # doctest: +SKIP
    """
    args = _parse(argv)
    kinds = [FAULTS[name] for name in args.kinds]
    if args.smoke:
        kinds = [fault for fault in kinds if fault.cheap]
    count = len(kinds) if args.smoke else args.faults
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ref = reference(work / "reference")
        print(f"reference: {len(ref.results)} trials in {ref.seconds:.0f}s, {ref.run_bytes / 2**20:.1f} MiB written",
              flush=True)
        outcomes = []
        for index in range(args.start, args.start + count):
            outcome = run_fault(kinds[index % len(kinds)], index, args.seed, ref, work)
            print(detail(outcome), flush=True)
            outcomes.append(outcome)
        print(table(outcomes))
        print(figure(outcomes, EVAL_EVERY))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench chaos")
    parser.add_argument("--faults", type=int, default=14, help="faults in all, the kinds taken in turn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", type=lambda text: text.split(","), default=list(FAULTS),
                        help=f"comma-separated, from {', '.join(FAULTS)}")
    parser.add_argument("--start", type=int, default=0,
                        help="index of the first fault (its kind and moment follow from seed and index): re-run one")
    parser.add_argument("--smoke", action="store_true", help="one corrupt_file fault (the test suite's smoke test)")
    parser.add_argument("--keep", help="keep the runs and logs in this directory")
    args = parser.parse_args(argv)
    unknown = [name for name in args.kinds if name not in FAULTS]
    if unknown or args.faults < 1 or args.start < 0:
        parser.exit(2, f"error: --kinds {','.join(unknown)}: unknown; allowed: {', '.join(FAULTS)}\n" if unknown
                    else f"error: --faults {args.faults} --start {args.start}: allowed: --faults >= 1, --start >= 0\n")
    return args
