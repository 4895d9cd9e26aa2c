"""`python -m promptkit.cli` runs the `promptkit` command."""

from .app import main

main()
