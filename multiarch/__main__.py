"""`python -m multiarch ...` runs the `multiarch` command."""

from multiarch.cli import main

if __name__ == "__main__":
    main()
