"""`make bench`: the memory and speed budget of the Procfile's processes, against the old way.

Run with `python -m bench` (BENCH_QUICK=1 for a shorter run). Prints a table and writes
bench/results.json. Everything runs locally: generated mail, an embedded Redis, SQLite.
"""
