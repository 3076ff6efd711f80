"""`pose data-service dispatcher|worker` (also the `pose-data-service` console script): run a tf.data
service dispatcher, or a worker that runs the training pipeline's per-element work (read, decode,
augment, render targets) for trainers started with `--data-service grpc://HOST:PORT`.

    pose-data-service dispatcher --port 5050
    pose-data-service worker --dispatcher HOST:5050 --port 5051 --host THIS_MACHINES_NAME

Workers read images and mask files by the paths the trainer's samples name, so they need the same
dataset (and POSE_MASK_CACHE) paths as the trainer, e.g. on a shared filesystem.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from pose_core.errors import PoseError


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {port}")
    return port


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="role", metavar="ROLE")
    sub.required = True
    d = sub.add_parser("dispatcher", help="coordinate workers and trainers")
    d.add_argument("--port", type=_port, default=5050, help="port to listen on (0 = any free port)")
    d.add_argument("--work-dir", default=None,
                   help="directory for the dispatcher's journal; with it a restarted dispatcher resumes "
                        "its jobs (fault-tolerant mode)")
    w = sub.add_parser("worker", help="run dataset elements for the dispatcher")
    w.add_argument("--dispatcher", required=True, help="dispatcher address HOST:PORT (grpc:// optional)")
    w.add_argument("--port", type=_port, default=0, help="port to listen on (0 = any free port)")
    w.add_argument("--host", default="localhost",
                   help="the name or address under which trainers reach this worker")


def _strip_scheme(address: str) -> str:
    return address.split("://", 1)[1] if "://" in address else address


def _start(server_class, config, what: str):
    try:
        return server_class(config)
    except (RuntimeError, ValueError) as exc:   # gRPC bind failures, bad addresses
        raise PoseError(f"could not start the tf.data service {what}: {exc} (port in use?)") from None


def run(args) -> int:
    # SIGTERM stops the service like Ctrl-C, at any moment (also while TensorFlow loads).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = None
    try:
        server = _serve(args)
        # Not server.join(): it blocks inside C++, where Ctrl-C never reaches Python. Short sleeps: a
        # signal the OS hands to one of gRPC's threads does not interrupt the main thread's sleep; Python
        # runs the handler when the sleep ends.
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print(f"{args.role} stopped", flush=True)
    if server is None:
        return 0
    # The gRPC server's C++ threads keep a normal interpreter exit waiting forever: leave at once.
    from pose_core import quiet
    sys.stderr.flush()
    quiet.flush()
    os._exit(0)


def _serve(args):
    import tensorflow as tf  # imported late: `pose --help` stays fast

    service = tf.data.experimental.service
    if args.role == "dispatcher":
        config = service.DispatcherConfig(port=args.port, protocol="grpc", work_dir=args.work_dir,
                                          fault_tolerant_mode=bool(args.work_dir))
        server = _start(service.DispatchServer, config, f"dispatcher on port {args.port}")
        port = server.target.rsplit(":", 1)[1]
        print(f"dispatcher listening on grpc://localhost:{port}", flush=True)
    else:
        config = service.WorkerConfig(dispatcher_address=_strip_scheme(args.dispatcher), protocol="grpc",
                                      port=args.port, worker_address=f"{args.host}:%port%")
        server = _start(service.WorkerServer, config, f"worker on port {args.port}")
        print(f"worker listening on port {server._address.rsplit(':', 1)[1]} "
              f"(dispatcher {args.dispatcher})", flush=True)
    return server


def main(argv: list[str] | None = None) -> int:
    """`pose-data-service` console script: the same as `pose data-service`."""
    from pose_core.cli import main as pose_main

    return pose_main(["data-service", *(sys.argv[1:] if argv is None else argv)], entry_point=argv is None)


if __name__ == "__main__":
    sys.exit(main())
