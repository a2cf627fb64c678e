"""``python -m flows.cli``: the same entry point as the ``kspyder`` script."""

from flows.cli import main

main()
