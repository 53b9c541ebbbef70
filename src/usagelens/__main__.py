"""Run the command line: ``python -m usagelens``."""

from usagelens.cli import main

main()
