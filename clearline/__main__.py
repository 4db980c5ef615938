"""`python -m clearline` runs the command line."""

from clearline.cli import main

main()
