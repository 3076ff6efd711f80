"""Clean exits for our ROS processes: SIGINT or SIGTERM at any moment (while a model loads, during a reload,
mid-inference) -> one log line, a graceful stop, exit status 0 within ~2 s, no traceback.

Why not rclpy's own handlers or KeyboardInterrupt: rclpy's handler invalidates the context, so whatever
runs next (creating a publisher during start-up, publishing a result) fails with an RCLError traceback or a
false "frame failed" line; KeyboardInterrupt lands wherever the main thread happens to be, often inside
TensorFlow's model loading. Instead the C-level signal handler only writes the signal number to a pipe
(signal.set_wakeup_fd), and a watcher thread acts on it at once even while the main thread is busy in C++:
before `running()` it exits immediately; afterwards it stops the node gracefully and, if that takes longer
than `grace_s`, exits anyway. A second signal exits at once.

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    exits = SignalExit("pose_node")          # main thread, right after rclpy.init
    node = PoseNode()                        # a signal here: one line, exit 0
    exits.running(stop=lambda: ...)          # a signal now: stop(), then exit 0
    ... spin ...
    exits.finish(code)                       # after a signal: flush and exit without slow teardown
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

from pose_core import quiet

NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class SignalExit:
    def __init__(self, name: str, grace_s: float = 1.5, log: Callable[[str], None] | None = None):
        self.name = name
        self.grace_s = grace_s
        self._log = log or _ros_log(name)
        self._stop: Callable[[], None] | None = None
        self.signalled: str | None = None
        self._lock = threading.Lock()
        if threading.current_thread() is not threading.main_thread():
            return                              # signals are the host program's business (e.g. embedded)
        r, w = os.pipe()
        os.set_blocking(w, False)
        self._r = r
        for sig in NAMES:
            signal.signal(sig, _ignore)        # a Python-level handler must exist for the C handler to run
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name=f"{name}_signals", daemon=True).start()

    def running(self, stop: Callable[[], None]) -> None:
        """From now on a signal calls stop() (from the watcher thread) instead of exiting at once."""
        with self._lock:
            self._stop = stop
            pending = self.signalled
        if pending:                             # signalled while we were finishing start-up
            self._begin_stop()

    def finish(self, code: int = 0) -> int:
        """End of main: after a signal, exit now (0) without interpreter teardown, which can hang or crash
        while a TensorFlow thread (a model reload) is still running. Otherwise return code."""
        if self.signalled:
            _exit(0)
        return code

    # ------------------------------------------------------------------ watcher thread
    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._r, 1)
            except InterruptedError:
                continue
            except OSError:
                return
            if not data:
                return
            sig = NAMES.get(data[0], f"signal {data[0]}")
            with self._lock:
                first = self.signalled is None
                if first:
                    self.signalled = sig
                stop = self._stop
            if not first:
                _exit(0)                       # second signal: no more waiting
            self._log(f"stopping ({sig})")
            if stop is None:
                _exit(0)                       # still starting (model loading): nothing to finish
            self._begin_stop()

    def _begin_stop(self) -> None:
        timer = threading.Timer(self.grace_s, _exit, (0,))
        timer.daemon = True
        timer.start()
        try:
            self._stop()
        except Exception:                      # noqa: BLE001 - stopping must never print a traceback
            _exit(0)


def _ignore(signum, frame) -> None:   # noqa: ARG001 - the watcher thread does the work
    pass


def _exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    quiet.flush()
    os._exit(code)


def _ros_log(name: str) -> Callable[[str], None]:
    def log(text: str) -> None:
        try:
            import rclpy.logging
            rclpy.logging.get_logger(name).info(text)
        except Exception:                      # noqa: BLE001 - fall back to a plain line
            print(f"[{name}] {text}", file=sys.stderr, flush=True)
    return log


def init_ros(name: str, args=None) -> int:
    """rclpy.init without rclpy's signal handlers (SignalExit handles them); 2 with one line for arguments
    that are not ROS arguments or do not parse, else 0."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    from rclpy.utilities import remove_ros_args

    argv = sys.argv if args is None else args
    try:
        extra = remove_ros_args(args=argv)[1:]
        if extra:
            raise ValueError(f"unknown argument {extra[0]!r} (node options: --ros-args -p NAME:=VALUE)")
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as e:  # noqa: BLE001 - rclpy's argument errors are RCLErrors with multi-line text
        print(f"{name}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    return 0
