"""The robot install, for real: `pip install .[serve]` from the package registry into a throwaway venv, then
`pose estimate` on a photo with a TFLite model there - no TensorFlow installed at all. Prints a small table
(install time, venv size, packages, whether tensorflow is installed, the estimate's result).

    .venv/bin/python benchmarks/serve_install.py [--model pose-mobile/cpm] [--keep /tmp/serve_venv] [--out bench]
        -> bench/serve_install.md
        (POSE_MODELS_DIR / POSE_TEST_IMAGES set; needs the registry, so it is not a test: the test suite runs
         without network. test/ros/test_footprint.py checks the same extras offline with the dev venv's files.)

A model whose default runtime is a cached conversion (movenet/*, the default pipeline) also runs there once
its TFLite is in $POSE_CACHE_DIR (convert on a `.[train]` machine: `pose models fetch NAME --convert`).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table_output import add_out_argument, write_table

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pose-mobile/cpm", help="a model that runs on TFLite without conversion, "
                    "or one whose conversion is in $POSE_CACHE_DIR")
    ap.add_argument("--photo", default="p1.jpg")
    ap.add_argument("--keep", type=Path, help="build the venv here and keep it (default: a temp dir, removed)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the venv")
    add_out_argument(ap, "serve_install.md", Path("bench"))
    args = ap.parse_args(argv)
    photo = Path(os.environ.get("POSE_TEST_IMAGES", ROOT.parent / "shared/data/images")) / args.photo
    work = args.keep or Path(tempfile.mkdtemp(prefix="pose_serve_"))
    venv = work / "venv"
    try:
        t0 = time.monotonic()
        subprocess.run([args.python, "-m", "venv", str(venv)], check=True)
        py = str(venv / "bin" / "python")
        # A copy of the tree: pip builds the project from it (a non-editable install, as on a robot).
        src = work / "src"
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "out", "bench", "*.egg-info",
                                                                 "__pycache__", "build", "install", "log"))
        pip = run([py, "-m", "pip", "install", "-q", f"{src}[serve]"])
        install_s = time.monotonic() - t0
        if pip.returncode:
            print(pip.stdout[-2000:], pip.stderr[-3000:])
            return 1
        freeze = run([py, "-m", "pip", "list", "--format=freeze"]).stdout.split()
        has_tf = any(line.lower().startswith(("tensorflow==", "tf-keras==", "keras==")) for line in freeze)
        out = work / "out"
        t1 = time.monotonic()
        est = run([str(venv / "bin" / "pose"), "estimate", "--model", args.model, str(photo), "--json",
                   str(out / "people.json")], cwd=work)
        estimate_s = time.monotonic() - t1
        table = "\n".join([
            "| step | result |\n|---|---|",
            f"| pip install .[serve] (registry) | {install_s:.0f} s, venv {dir_mb(venv):.0f} MB, "
            f"{len(freeze)} packages |",
            f"| tensorflow/keras installed | {'yes' if has_tf else 'no'} |",
            f"| pose estimate --model {args.model} {args.photo} | exit {est.returncode}, {estimate_s:.1f} s: "
            f"{(est.stdout.strip().splitlines() or [''])[-1]} |",
            "packages: " + ", ".join(freeze)])
        print(table)
        write_table(args.out, "serve_install.md", table + "\n")
        if est.returncode:
            print(est.stderr[-2000:])
        return 0 if est.returncode == 0 and not has_tf else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
