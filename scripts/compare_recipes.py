"""Thin wrapper: the logic lives in rlrewards/reporting/compare.py
(``python -m rlrewards.reporting.compare --help``)."""

from rlrewards.reporting.compare import main

if __name__ == "__main__":
    main()
