"""`python -m axis.cli` runs the same command as `axis`."""

from axis.cli.main import main

main()
