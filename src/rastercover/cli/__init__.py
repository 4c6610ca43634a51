"""The ``rastercover`` command line (click): one module per command."""
