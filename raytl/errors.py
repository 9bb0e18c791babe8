"""The error types the CLI turns into one line and exit status 2: bad user input, and a full disk under the run."""

import re


class InputError(Exception):
    """Bad input from the user: a file, a key path and what is allowed.

    >>> raise InputError("space.yaml: models[0]: unknown model 'xlmr-huge'; allowed: base, large")
    Traceback (most recent call last):
    raytl.errors.InputError: space.yaml: models[0]: unknown model 'xlmr-huge'; allowed: base, large
    """


NO_SPACE = ("no space left on device", "errno 28", "database or disk is full", "disk quota exceeded")


class StorageFull(Exception):
    """The run's storage is full: the search stops and says so in one line (exit status 2); what was written
    before is intact, and `raytl resume` continues once there is room again.

    >>> raise StorageFull("runs/q: no space left on device; free space there, then `raytl resume runs/q`")
    Traceback (most recent call last):
    raytl.errors.StorageFull: runs/q: no space left on device; free space there, then `raytl resume runs/q`
    """


def no_space(error: BaseException | str) -> bool:
    """Whether an error (or its text, e.g. a failed trial's traceback) is a full disk or quota.

    >>> no_space(OSError(28, "No space left on device")), no_space("ValueError: bad shape")
    (True, False)
    """
    seen: BaseException | str | None = error
    while seen is not None:  # its causes too: Optuna wraps SQLite's "database or disk is full" in its own error
        if isinstance(seen, OSError) and seen.errno == 28 or any(sign in str(seen).lower() for sign in NO_SPACE):
            return True
        seen = (seen.__cause__ or seen.__context__) if isinstance(seen, BaseException) else None
    return False


def no_space_message(error: BaseException) -> str:
    """The line for a full disk: the `StorageFull` raised inside Tune (which wraps it, sometimes only as traceback
    text), else one naming the error that reported it.

    >>> no_space_message(RuntimeError("Traceback ...\\nraytl.errors.StorageFull: runs/q: no space left on device"))
    'runs/q: no space left on device'
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, StorageFull):
            return str(seen)
        found = re.search(r"StorageFull: (.+)", str(seen))
        if found:
            return found.group(1).strip()
        seen = seen.__cause__ or seen.__context__
    return (f"no space left on device ({type(error).__name__}: {str(error).splitlines()[0][:200]}); what was written "
            "is intact: free space, then `raytl resume RUN_DIR`")
