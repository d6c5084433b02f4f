"""Helpers shared by the tests, importable as ``support.*`` (pytest puts ``tests/`` on the path:
``pythonpath`` in pyproject's ``[tool.pytest.ini_options]``). Nothing here is collected as a test.

- ``specs``: random but valid layer and network specs straight into the IR.
- ``amsim``: the Amaranth-simulator harness for cores with the lognet interface.
- ``clitools``: run the console script and check a one-line user error.
- ``weightfiles``: unreadable or invalid weight files with the error each must give.
"""
