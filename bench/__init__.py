"""Benchmarks of the entrepot CLI (run as scripts: `.venv/bin/python bench/apply_get.py`)."""
