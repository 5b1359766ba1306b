"""leernet's benchmark suite: each benchmark runs leernet and its raw-library baseline side by side.

Run ``uv run python -m bench all`` (about 10 minutes) or ``... all --quick``
(about a minute); see ``docs/performance.md`` for the figures and what limits them.
"""
