"""The pre-push gate and git hooks (docs/prepush.md).

Modules: ``gitdiff`` (what changed), one module per check (``secrets``, ``env``, ``affected``,
``build``, ``openapi``, ``impact``), ``result`` (a check's outcome), ``runner`` (the user's
commands), ``settings`` (the ``[prepush]`` section), ``gate`` (runs the checks, caches by tree
hash, records per commit), ``install`` (native git hooks). Nothing is imported here, so the CLI
loads only what a command needs.
"""
