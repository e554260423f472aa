"""``lassi-ee demo``: a whole trial of a bundled program with a scripted model (not an LLM)."""
