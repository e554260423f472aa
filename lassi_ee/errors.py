"""Errors that reach the user as one clear line, never as a traceback."""


class LassiError(Exception):
    """A problem the user can act on: the message says what is wrong and what to do."""

    exit_code = 1


class UsageError(LassiError):
    """Bad input from the user (a path, a device name, a flag): exit status 2."""

    exit_code = 2
