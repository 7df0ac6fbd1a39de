"""Errors that reach the user as one line and exit status 2."""


class MemscopeError(Exception):
    """Bad input: an unknown name, an impossible size, a missing or corrupt file.

    Worded for a Python caller (`n_samples=0 must be positive`); `param` names the argument at fault, and
    the command line rewrites it into its flag (`--samples 0 must be positive`), prints the message on one
    line and exits with status 2.
    """

    def __init__(self, message: str, param: str | None = None):
        super().__init__(one_line(str(message)))  # one line, whatever user text went into it
        self.param = param


class ConfigError(MemscopeError):
    """A configuration value that cannot work (`key=value` is both its Python and its command-line form)."""


def escape(value) -> str:
    """A user's string (a path, a key, a name) for an error message: as it is when every character is
    printable, else quoted with its line breaks, control and other unprintable characters escaped
    (`'a\\nb'`), so that a message built from it stays on one line and shows what was given."""
    text = str(value)
    if text.isprintable():
        return text
    quoted = repr(text)
    return quoted if quoted.isprintable() else ascii(text)


def one_line(message: str) -> str:
    """The message with every line break and control character escaped (`\\n`, `\\x1b`): what the command
    line prints, whatever a library message holds."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
