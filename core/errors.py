"""User-facing errors: the CLI prints their message as one line and exits non-zero, never a traceback."""


class SGError(Exception):
    """A problem with the user's input or environment that the user can fix (bad file, wrong shape...)."""

    exit_code = 2
