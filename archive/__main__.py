"""``python -m archive`` runs the dangan CLI."""

from archive.cli import main

main()
