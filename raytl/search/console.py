"""What the commands that train print: raytl's own lines; the libraries' messages go to the run's log file.

Ray, DeepSpeed, Optuna, transformers, torch and Python warnings (through `logging.captureWarnings`) all write
through `logging`. `route_library_logs` puts one filter on each library's loggers and on their console handlers,
and on a console handler of the root logger that stands in for logging's last resort (what prints the records of
loggers without a handler of their own, such as Python warnings'). The filter appends every record, once, to the
run's log file (`RUN_DIR/search.log`) and lets only errors through to the console, or everything with `--verbose`.

Trial workers never print to this console: Ray starts with `log_to_driver=False` (`raytl.search.tuner`), so their
output, DeepSpeed's and transformers' included, stays in Ray's session logs
(`$RAY_TMPDIR/ray/session_latest/logs/worker-*`; RAY_TMPDIR defaults to /tmp).

Filters only act on records logged after they are in place. Ray, Optuna and torch add their console handlers when
imported and transformers on first use, so they are imported here first; DeepSpeed warns while it is imported
(on a machine without a GPU), so its logger gets the filter before DeepSpeed exists; DeepSpeed logs through that
one logger.
"""

from __future__ import annotations

import logging
from pathlib import Path

LIBRARY_LOGGERS = ("ray", "DeepSpeed", "optuna", "transformers", "torch")  # each prints through handlers of its own
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Gate(logging.Filter):
    """Writes each record to the log file once; passes it on to a console only with verbose, or from ERROR up."""

    def __init__(self, log_file: logging.Handler, verbose: bool) -> None:
        super().__init__()
        self.log_file, self.verbose = log_file, verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "raytl_logged", False):  # a record can meet the gate on a logger and its handlers
            record.raytl_logged = True
            self.log_file.handle(record)
        return self.verbose or record.levelno >= logging.ERROR


def route_library_logs(log_path: Path, verbose: bool) -> None:
    """Send the libraries' log records to `log_path` (appended) and keep them off the console unless `verbose`
    (errors always show). Call once per process, before the search imports or starts anything."""
    import optuna  # noqa: F401  (each adds its console handler when imported)
    import ray  # noqa: F401
    import torch  # noqa: F401
    from transformers.utils import logging as transformers_logging

    transformers_logging.get_logger("transformers")  # creates transformers' console handler
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = logging.FileHandler(log_path, encoding="utf-8")
    log_file.setFormatter(logging.Formatter(FORMAT))
    gate = _Gate(log_file, verbose)
    last_resort = logging.StreamHandler()
    last_resort.setLevel(logging.WARNING)  # what logging.lastResort prints
    last_resort.addFilter(gate)
    logging.getLogger().addHandler(last_resort)
    logging.captureWarnings(True)
    for logger in _library_loggers():
        logger.addFilter(gate)
        for handler in logger.handlers:
            handler.addFilter(gate)


def _library_loggers() -> list[logging.Logger]:
    """The libraries' top loggers and those below them that exist (torch gives several their own handler)."""
    names = [name for name in list(logging.root.manager.loggerDict)
             if any(name.startswith(f"{top}.") for top in LIBRARY_LOGGERS)]
    return [logging.getLogger(name) for name in (*LIBRARY_LOGGERS, *names)]
