"""Every module of pose_core and pose_ros imports; pose_core has no import circle and never reaches ROS
(pose_core is the ROS-free library: rclpy and the message packages belong to pose_ros)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pose_core

PACKAGES = ("pose_core", "pose_ros")

# Imports every module of PACKAGES, pose_core's first, in a fresh interpreter; prints JSON: the modules, the
# ones that failed, and for each ROS module that showed up, the module whose import brought it in.
PROBE = r"""
import importlib, importlib.util, json, pkgutil, sys, traceback

ROS_NAMES = {"rclpy", "cv_bridge", "launch", "launch_ros", "ament_index_python", "message_filters", "tf2_ros",
             "rosbag2_py"}

def is_ros(top):
    return (top in ROS_NAMES or top.startswith(("rcl", "rmw", "rosidl"))
            or top.endswith(("_msgs", "_srvs", "_actions", "_interfaces")))

def module_names(name, path):
    # Walks the folders without importing anything, so each import below is the first of its module.
    for info in pkgutil.iter_modules([path]):
        if info.name != "__main__":
            yield f"{name}.{info.name}"
            if info.ispkg:
                yield from module_names(f"{name}.{info.name}", f"{path}/{info.name}")

report = {"files": {}, "modules": [], "failed": {}, "ros_from": {}}
for package in sys.argv[1:]:
    spec = importlib.util.find_spec(package)
    report["files"][package] = spec.origin
    for name in [package, *module_names(package, spec.submodule_search_locations[0])]:
        report["modules"].append(name)
        try:
            importlib.import_module(name)
        except BaseException:
            report["failed"][name] = traceback.format_exc(limit=-3)
        for top in sorted({m.partition(".")[0] for m in sys.modules}):
            if is_ros(top):
                report["ros_from"].setdefault(top, name)
print(json.dumps(report))
"""


def _probe() -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, *PACKAGES], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_module_imports_and_pose_core_reaches_no_ros():
    report = _probe()
    assert report["files"]["pose_core"] == pose_core.__file__   # the tree under test, not an installed one
    core = [m for m in report["modules"] if m.partition(".")[0] == "pose_core"]
    ros = [m for m in report["modules"] if m.partition(".")[0] == "pose_ros"]
    assert "pose_core.zoo" in core and "pose_ros.pose_node" in ros
    assert not report["failed"], "\n".join(f"{m}:\n{tb}" for m, tb in report["failed"].items())
    from_core = {top: m for top, m in report["ros_from"].items() if m in core}
    assert not from_core, f"pose_core imports ROS (package: first module that brought it in): {from_core}"
    # The check sees ROS where it is: the nodes bring rclpy in.
    assert report["ros_from"].get("rclpy") in ros


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module):
    """(import node, inside a function) for every import the module can run; `if TYPE_CHECKING:` ones never run."""
    stack = [(node, False) for node in tree.body]
    while stack:
        node, in_function = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend((n, in_function) for n in node.orelse)
        else:
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            stack.extend((n, inner) for n in ast.iter_child_nodes(node))


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, from the source. Imports inside functions count too: the
    lazy imports that keep TensorFlow off the startup path still tie two modules into a circle. A function's
    import of its own package is left out: Python has loaded a package before any of its modules runs."""
    root = package_dir.parent
    files = {_module_name(p, root): p for p in sorted(package_dir.rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node, in_function in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:   # relative: from the package, up level - 1
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                found = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            targets.update(t for t in found if t in files and not (in_function and name.startswith(t + ".")))
        targets.discard(name)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as a path [a, b, ..., a], or [] when there is none."""
    state, trail = {}, []   # state: 1 = on the current path, 2 = done

    def visit(node):
        state[node] = 1
        trail.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        trail.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_find_cycle_reports_the_circle_path():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_pose_core_has_no_import_cycle():
    graph = import_graph(Path(pose_core.__file__).parent)
    assert "pose_core.errors" in graph["pose_core.zoo"]     # the graph sees module-level imports
    assert "pose_core.download" in graph["pose_core.zoo"]   # and function-level ones (zoo.resolve)
    cycle = find_cycle(graph)
    assert not cycle, "import circle in pose_core: " + " -> ".join(cycle)
