"""`python -m entrepot` runs the CLI."""

from entrepot.cli.main import main

main()
