"""Errors that reach the user as one clear line, never as a traceback."""

import errno

_DISK_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


class LassiError(Exception):
    """A problem the user can act on: the message says what is wrong and what to do."""

    exit_code = 1


class UsageError(LassiError):
    """Bad input from the user (a path, a device name, a flag): exit status 2."""

    exit_code = 2


class TrialInterrupted(LassiError):
    """Something a trial depends on failed for now (the LLM server, the disk): not a
    result. The step it happened in is not committed, so a resume repeats it."""

    MARK = "interrupted: "

    def __repr__(self) -> str:
        # LangGraph keeps repr() of a step's exception with the checkpoint: `lassi-ee
        # trials` and `show` read the reason from there, as it was written
        return f"{self.MARK}{self}"


def disk_failure(
    error: BaseException, where: str = "a file of the trial"
) -> TrialInterrupted | None:
    """A full, read-only or failing disk as the interruption it is; None for other errors."""
    if not isinstance(error, OSError) or error.errno not in _DISK_FAILURES:
        return None
    return TrialInterrupted(f"cannot write {error.filename or where}: {error.strerror}")
