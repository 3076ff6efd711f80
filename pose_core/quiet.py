"""Quiet by default: TensorFlow / absl / TFLite print ~9 lines of C++ logging on every start (oneDNN notes,
"could not find cuda drivers", a cuInit error on machines without a GPU, the XNNPACK delegate) before our
own first line. Every entry point calls `quiet_tensorflow(verbose)` before TensorFlow is first imported.

TF_CPP_MIN_LOG_LEVEL alone is not enough since TF 2.16: parts of TF and XLA log through absl, which reads
no environment variable and writes straight to file descriptor 2. So a process entry point also routes
fd 2 through a thread that drops lines in the C++ log formats and passes everything else through
unchanged (our log lines, ROS log lines, Python tracebacks). `verbose=True` shows everything again.
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

# Lines written by C++ logging: glog/absl "I0000 00:00:1796059493.614571    6155 port.cc:153] ...",
# absl's notice about its own initialisation, TFLite's minimal logger, and the continuation line of
# cpu_feature_guard's two-line message.
NATIVE_LOG_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ ]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|INFO: Created TensorFlow Lite"
    rb"|INFO: Initialized TensorFlow Lite runtime"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)")

_filter: "_StderrFilter | None" = None


def quiet_tensorflow(verbose: bool = False, filter_stderr: bool = True) -> None:
    """Silence (or, with verbose, restore) TensorFlow's native and Python logging for this process.
    filter_stderr: route fd 2 through the line filter (only for a process's own entry point; callers that
    run inside another program, e.g. `main([...])` from a test, pass False)."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        flush()              # a filter installed before the verbose setting was known: off again
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # an explicit user setting wins
    # Python side: TF's own logger and absl's Python logging print deprecation/retracing warnings.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    if filter_stderr:
        _install_filter()


def flush() -> None:
    """Pass every line still in the filter on before the process ends (call before os._exit)."""
    if _filter is not None:
        _filter.close()


def _install_filter() -> None:
    global _filter
    if _filter is not None:
        return
    try:
        _filter = _StderrFilter()
    except OSError:          # no fd 2 (a daemon) or no pipes left: stay noisy rather than fail
        _filter = None
        return
    atexit.register(flush)


class _StderrFilter:
    """fd 2 -> pipe -> this thread -> the original fd 2, minus native log lines."""

    def __init__(self):
        self._out = os.dup(2)
        r, w = os.pipe()
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        os.dup2(w, 2)
        os.close(w)
        self._r = r
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._pump, name="stderr_filter", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._r, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            kept = [line + b"\n" for line in lines if not NATIVE_LOG_LINE.match(line)]
            if kept:
                self._write(b"".join(kept))
        if pending and not NATIVE_LOG_LINE.match(pending):
            self._write(pending)

    def _write(self, data: bytes) -> None:
        while data:
            try:
                n = os.write(self._out, data)
            except OSError:
                return
            data = data[n:]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        os.dup2(self._out, 2)      # closes the pipe's last write end: the pump sees EOF after the rest
        self._thread.join(timeout=2.0)
