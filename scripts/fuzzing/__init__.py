"""The relay's fuzzer as a library: seeds, structure-aware mutators and targets.

`scripts/fuzz.py` is its command line; `tests/fuzz/` runs a seeded smoke campaign of it.
Every case draws from its own `random.Random(case_seed)`, so a failure is replayed exactly
with `scripts/fuzz.py --target T --case-seed S`.
"""
