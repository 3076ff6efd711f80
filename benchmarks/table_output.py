"""What every benchmark shares about its output: the --out folder, checked while the arguments are parsed
(a bad folder fails in one line before minutes of measuring, not after), and its markdown table written there."""
from __future__ import annotations

import argparse
from pathlib import Path

from pose_core.cli.outputs import check_output_dir
from pose_core.cli.parser import UsageError


def add_out_argument(parser: argparse.ArgumentParser, table: str, default: Path = Path("bench")) -> None:
    parser.add_argument("--out", type=_out_folder, default=default,
                        help=f"folder for {table} (default %(default)s)")


def _out_folder(text: str) -> Path:
    try:
        check_output_dir(text, "--out")
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--out ")) from None
    return Path(text)


def write_table(out: Path, table: str, text: str) -> Path:
    """out/table <- text (markdown), the folder created if missing; says where it went."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / table
    path.write_text(text if text.endswith("\n") else text + "\n")
    print(f"table written to {path}")
    return path
