"""Errors that reach the user as one line and exit status 2."""


class MemscopeError(Exception):
    """Bad input: an unknown name, an impossible size, a missing or corrupt file.

    The command line prints the message on one line and exits with status 2.
    """


class ConfigError(MemscopeError):
    """A configuration value that cannot work, worded in command-line terms."""
