"""Errors that reach the user as one line and exit status 2."""


class MemscopeError(Exception):
    """Bad input: an unknown name, an impossible size, a missing or corrupt file.

    Worded for a Python caller (`n_samples=0 must be positive`); `param` names the argument at fault, and
    the command line rewrites it into its flag (`--samples 0 must be positive`), prints the message on one
    line and exits with status 2.
    """

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class ConfigError(MemscopeError):
    """A configuration value that cannot work (`key=value` is both its Python and its command-line form)."""
