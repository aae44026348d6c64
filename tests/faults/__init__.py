"""The fault-injection suite (pytest -m faults): see conftest.py."""
