"""`python -m dispatch` runs the `dispatch` command."""

from dispatch.cli import main

main()
