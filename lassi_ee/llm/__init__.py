"""The LLM layer: chat models per role, prompts, reply parsing, retries, usage and budget.

- models.py: ``build_models`` -> ``ModelSet``, the chat model of every role
- client.py: ``LLM``, what the nodes ask ("role X, with these facts")
- failures.py: which failed requests are worth retrying, and the one-line error for the rest
- replies.py: code blocks, verdicts and categories read from replies
- usage.py: tokens and money per role; errors.py: the layer's errors; gate.py: concurrency
- fake.py: the role-scripted chat model; demo.py: the demo's canned replies; null.py: the
  null model (a false-claim test); models.py chooses the last two by name

The roles themselves are a leaf below this layer (lassi_ee/roles.py): the prompts speak of
them too. Nothing is imported here, so that importing one module loads no other.
"""
