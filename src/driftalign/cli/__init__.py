"""Command-line interface: one thin command per stage over the library functions."""
