"""argparse with one-line usage errors: `prog: error: MESSAGE (see prog --help)` and exit status 2.

argparse's default prints the whole usage first, which for `pose estimate` wraps over many lines and
buries the one line that says what is wrong. --help still prints the full usage.
"""
from __future__ import annotations

import argparse
import sys


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


class UsageError(Exception):
    """A wrong command-line value found after parsing (an output path that cannot be written, bad
    --scales): the CLI prints it as one line and exits 2, like argparse does, before any work."""
