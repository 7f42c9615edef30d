"""Adapters to the tools people already use; each is optional and imports nothing heavy here.

- `agentloop.interop.rg` — reasoning-gym's tasks as scenarios (`pip install 'agentloop[gym]'`):
  `rg/ab`, `rg/game_of_life` and `rg/mini_sudoku` by name, every task by the import path
  `agentloop.interop.rg:<task>`.
- `agentloop.interop.inspect` — agentloop inside inspect_ai (`pip install 'agentloop[inspect]'`):
  `inspect eval agentloop/<scenario>`, the solver, the scorer, a model adapter, and the export
  of stored episodes as an inspect log (`agentloop export DIR --format inspect`).

See docs/interop.md.
"""
