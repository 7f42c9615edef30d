"""Two tasks of one's own for agentloop, installed as a plugin (see pyproject.toml's entry points).

- `edits`: apply a long list of word edits to a document, one edit per step;
- `units`: a long chain of length conversions, the factors read from units.csv.
"""
