"""The pieces of `starter.py`, the operators' command line, by concern."""
