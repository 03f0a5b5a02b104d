"""Plumbing the lessons lean on: dataclass configs from JSON and argparse (``configs``), crash-safe file
writes (``fileio``) and the optional matplotlib import (``plotting``)."""
