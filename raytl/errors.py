"""The one error type for bad user input; the CLI turns it into one line and exit status 2."""


class InputError(Exception):
    """Bad input from the user: a file, a key path and what is allowed.

    >>> raise InputError("space.yaml: models[0]: unknown model 'xlmr-huge'; allowed: base, large")
    Traceback (most recent call last):
    raytl.errors.InputError: space.yaml: models[0]: unknown model 'xlmr-huge'; allowed: base, large
    """
