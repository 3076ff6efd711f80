"""`pose` command line: one module per subcommand, imported only when used (TensorFlow is slow to import).

Each module in pose_core/cli/ defines `add_arguments(parser)` and `run(args) -> int`. Errors derived from
PoseError become one readable line on stderr and exit status 1; usage errors (argparse's and UsageError)
one line and exit status 2; Ctrl-C one line and 130. TensorFlow's C++ logging is hidden unless -v.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pose_core.cli.parser import OneLineParser, UsageError
from pose_core.errors import PoseError
from pose_core.quiet import quiet_tensorflow

# subcommand -> (module, one-line help)
COMMANDS = {
    "estimate": ("pose_core.cli.estimate", "estimate poses on images; write annotated PNGs and JSON"),
    "video": ("pose_core.cli.video", "estimate poses on a video file or camera; write an annotated video"),
    "models": ("pose_core.cli.models", "list, fetch or verify model-zoo files"),
    "bench": ("pose_core.cli.bench", "benchmark models x runtimes; write a table"),
    "train": ("pose_core.cli.train", "train a model from a YAML recipe"),
    "eval": ("pose_core.cli.evaluate", "evaluate predictions or a model (COCO AP, CrowdPose AP, PCKh)"),
    "export": ("pose_core.cli.export", "export a trained model (SavedModel, TFLite fp32/fp16/int8, TF-TRT)"),
    "import": ("pose_core.cli.import_weights", "convert published weights into our Keras architectures"),
    "data-service": ("pose_core.cli.data_service", "run a tf.data service dispatcher or worker"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="pose", description="pose_ros: human pose estimation")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, including TensorFlow's own C++ log lines")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    chosen = next((a for a in sys.argv[1:] if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen subcommand's module is imported (keeps `pose --help` fast).
        if name == chosen:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None, entry_point: bool | None = None) -> int:
    """entry_point: this call is the process's own entry (default: when argv is None)."""
    # Before anything can import TensorFlow. The fd-level filter only for a real process entry point; a
    # caller running main([...]) inside its own process (a test) keeps its stderr as it is.
    quiet_tensorflow(verbose=bool({"-v", "--verbose"} & set(sys.argv[1:] if argv is None else argv)),
                     filter_stderr=argv is None if entry_point is None else entry_point)
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    command = "pose"
    try:
        args = build_parser().parse_args()
        command = f"pose {args.command}"
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.run(args) or 0)
    except UsageError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except PoseError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
