"""Thin wrapper: the logic lives in rlrewards/reporting/reproduce.py
(``python -m rlrewards.reporting.reproduce --help``)."""

from rlrewards.reporting.reproduce import main

if __name__ == "__main__":
    main()
