"""``python -m processor`` is ``bounce-processor``."""

from processor.cli import main

main()
