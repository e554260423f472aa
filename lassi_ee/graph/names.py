"""The trial graph's node names, and the stage of the method each node belongs to.

Defined once: the builder adds its nodes under these names, the routes return
them, and the console log and the live panel (report/steps.py) say what each
finished step did.
"""

from __future__ import annotations

from typing import Literal, get_args

NodeName = Literal[
    "profile_source",
    "vanilla",
    "compile_candidate",
    "fix_compile",
    "run_candidate",
    "fix_runtime",
    "measure_candidate",
    "judge_candidate",
    "next_sibling",
    "pick_sibling",
    "confirm_candidate",
    "assess",
    "summarize_docs",
    "analyze_code",
    "plan",
    "refactor",
    "confirm_final",
    "compare",
    "categorize",
    "finalize",
]
NODE_NAMES: tuple[NodeName, ...] = get_args(NodeName)

StageNumber = Literal[0, 1, 2, 3, 4]

# The stage each node belongs to; None for the nodes that evaluate a candidate, which
# serve Stage 1's vanilla version and Stage 3's refactorings alike.
STAGE_OF: dict[NodeName, StageNumber | None] = {
    "profile_source": 0,
    "vanilla": 1,
    "compile_candidate": None,
    "fix_compile": 3,
    "run_candidate": None,
    "fix_runtime": 3,
    "measure_candidate": None,
    "judge_candidate": None,
    "next_sibling": 3,
    "pick_sibling": 3,
    "confirm_candidate": None,
    "assess": None,
    "summarize_docs": 2,
    "analyze_code": 2,
    "plan": 2,
    "refactor": 3,
    "confirm_final": 4,
    "compare": 4,
    "categorize": 4,
    "finalize": 4,
}
