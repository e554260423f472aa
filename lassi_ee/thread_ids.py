"""What a thread id may be: a name, never a path.

A trial's thread id names its folders (``work_root/THREAD``, ``runs_dir/THREAD``), and
the build step deletes ``work_root/THREAD/vNN/src``: an id like ``../../x`` would write
and delete outside them. Every entry (CLI, API, campaign, a Studio run) checks it here.
"""

from __future__ import annotations

import re

from lassi_ee.errors import UsageError

MAX_THREAD_ID_CHARS = 128
_THREAD_ID = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MAX_THREAD_ID_CHARS - 1}}}")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.-]+")


def check_thread_id(thread_id: str) -> str:
    """``thread_id`` itself when it is a valid name; a one-line UsageError otherwise."""
    if _THREAD_ID.fullmatch(thread_id):
        return thread_id
    if len(thread_id) > MAX_THREAD_ID_CHARS:
        problem = f"is {len(thread_id)} characters long (at most {MAX_THREAD_ID_CHARS})"
    else:
        problem = "is not a name"
    raise UsageError(
        f"thread id {thread_id!r} {problem}: use letters, digits and _ . - only, "
        "not starting with . or -"
    )


def thread_name(text: str) -> str:
    """``text`` made into a valid thread id: other characters become ``-``, cut to length."""
    name = _NOT_ALLOWED.sub("-", text).strip("-.") or "trial"
    return name[:MAX_THREAD_ID_CHARS]
