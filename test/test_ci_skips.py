"""The conftest hook: under CI=true a skip fails the run unless its reason is on conftest.ALLOWED_CI_SKIPS
(a plain skip, a skip marker, `importorskip` in a test and at module level); outside CI skips stay skips."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conftest import ALLOWED_CI_SKIPS, ROOT

TESTS = '''
import pytest
def test_plain_skip():
    pytest.skip("a data file is missing")
def test_allowed_skip():
    pytest.skip("needs a GPU: none visible")
def test_importorskip():
    pytest.importorskip("no_such_module_for_the_ci_hook")
@pytest.mark.skipif(True, reason="skipped by a marker")
def test_marker():
    pass
@pytest.mark.xfail(reason="an expected failure is not a skip")
def test_xfail():
    assert False
def test_passes():
    pass
'''


def run(tmp_path, ci: bool, module_skip: bool = False) -> tuple[int, str]:
    shutil.copy(ROOT / "test" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(TESTS)
    if module_skip:
        (tmp_path / "test_module_skip.py").write_text('import pytest\npytest.importorskip("no_such_rclpy")\n'
                                                      'def test_x():\n    pass\n')
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    return proc.returncode, proc.stdout


def test_outside_ci_skips_stay_skips(tmp_path):
    code, out = run(tmp_path, ci=False)
    assert code == 0 and "1 passed, 4 skipped, 1 xfailed" in out, out


def test_under_ci_only_allow_listed_skips_pass(tmp_path):
    code, out = run(tmp_path, ci=True)
    assert code != 0, out
    assert "2 failed, 1 passed, 1 skipped, 1 xfailed, 1 error" in out, out     # the marker skip: at setup
    for reason in ("a data file is missing", "could not import 'no_such_module_for_the_ci_hook'",
                   "skipped by a marker"):
        assert f"ALLOWED_CI_SKIPS: {reason}" in out, (reason, out)
    assert [line for line in out.splitlines() if line.startswith("SKIPPED")] == \
        ["SKIPPED [1] test_sample.py:6: needs a GPU: none visible"], out


def test_under_ci_a_module_level_importorskip_fails_the_run(tmp_path):
    code, out = run(tmp_path, ci=True, module_skip=True)
    assert code != 0 and "ERROR collecting test_module_skip.py" in out, out
    assert "could not import 'no_such_rclpy'" in out


def test_every_allowed_skip_says_why():
    assert ALLOWED_CI_SKIPS and all(len(why) > 20 for why in ALLOWED_CI_SKIPS.values())
