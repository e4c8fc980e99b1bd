"""The ``conv1d`` command: Typer wrappers that parse, call one plain function and print.

- ``app``: the Typer app, its global options, ``train``, ``eval`` and ``sweep``; ``main`` is the
  console script.
- ``common``: what every command shares: ``--set``/``--json``, the two consoles, errors -> one
  line and an exit code.
- ``inspection``: ``conv1d outsize`` and ``conv1d summary``.
- ``predict``: ``conv1d predict`` and ``conv1d export``.
- ``explain``: ``conv1d explain`` and ``conv1d show``.
- ``runs``: ``conv1d runs`` and ``conv1d runs compare``.
- ``tuning``: ``conv1d lr-find``, the learning-rate finder.
"""
