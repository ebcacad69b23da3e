"""The command line of the collection system (`python starter.py --help`); installed, the same
commands are `collections ...`. The commands live in the `cli` package, each module registering
its own (see `cli.main`)."""

from cli.main import main

if __name__ == "__main__":
    main()
