"""The benchmark: `python bench/run.py` starts the real stack and prints a table."""
