"""The numeric core: counting, metrics, aggregation and the interpretation of arrays.

numpy only (and dicecli.errors): no paths, readers, reporters or command-line code. The layer
test (tests/test_layers.py) enforces it.
"""
