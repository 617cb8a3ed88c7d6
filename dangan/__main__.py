"""``python -m dangan`` runs the dangan CLI."""

from dangan.cli import main

main()
