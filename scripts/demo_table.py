"""Thin wrapper: the logic lives in rlrewards/reporting/demo_table.py
(``python -m rlrewards.reporting.demo_table --help``)."""

from rlrewards.reporting.demo_table import main

if __name__ == "__main__":
    main()
