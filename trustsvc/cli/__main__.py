"""``python -m trustsvc.cli``: the same as the ``trustsvc`` command."""

from .app import main

main()
