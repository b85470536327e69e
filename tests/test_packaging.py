"""The installed layout: one `fusiongym` package, the repository's folders as its subpackages.

A user's own `agents` or `envs` must never clash with ours, so nothing of the project is
installed as a top-level module; the folders stay where they are in the repository and
pyproject.toml maps each to `fusiongym.<folder>`.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("accelerator", "envs", "agents", "experiments", "benchmarks")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_folder_is_installed_under_fusiongym():
    on_disk = {"fusiongym"} | {
        "fusiongym." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")}
    assert set(_setuptools()["packages"]) == on_disk


def test_the_folders_map_to_subpackages_and_the_script_is_namespaced():
    assert _setuptools()["package-dir"] == {"fusiongym": "fusiongym",
                                            **{f"fusiongym.{f}": f for f in FOLDERS}}
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["scripts"]["fusiongym"].startswith("fusiongym.")


def test_no_module_imports_a_folder_by_its_bare_name():
    """Installed, only `fusiongym.<folder>` exists: a bare `import agents` would fail there
    (or import a user's own package)."""
    import ast
    offenders = []
    for folder in (*FOLDERS, "tests", "fusiongym"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                         else [])
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}"
                              for n in names if n.partition(".")[0] in FOLDERS]
    assert offenders == []


@pytest.mark.timeout(300)
def test_the_wheel_holds_one_top_level_package(tmp_path):
    """Build the wheel offline (no isolation: setuptools is in the environment) and read it."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    if proc.returncode != 0 and "No module named pip" in proc.stderr:
        pytest.skip("pip is not available")
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel, = tmp_path.glob("fusiongym-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"fusiongym"}
    for expected in ("fusiongym/accelerator/sim.py", "fusiongym/envs/fusion_env.py",
                     "fusiongym/agents/oracle.py", "fusiongym/experiments/cli/__init__.py",
                     "fusiongym/accelerator/presets/mlu100.yaml",
                     "fusiongym/experiments/configs/quick.yaml"):
        assert expected in names


def test_a_users_own_agents_and_envs_do_not_clash(tmp_path):
    """A user's project with its own `agents` and `envs` packages imports ours beside them."""
    for name in ("agents", "envs"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("OWNER = 'user'\n")
    code = ("import agents, envs, gymnasium, fusiongym.envs, fusiongym.agents\n"
            "env = gymnasium.make('fusiongym/Fusion-v0')\n"
            "print(agents.OWNER, envs.OWNER, type(env.unwrapped).__module__,"
            " hasattr(fusiongym.agents, 'make_scheduler'))\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    if "fusiongym" not in subprocess.run([sys.executable, "-m", "pip", "list"], capture_output=True,
                                         text=True, env=env).stdout:
        pytest.skip("fusiongym is not installed in this environment")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["user", "user", "fusiongym.envs.fusion_env", "True"]


def _readme_modules() -> list[str]:
    import re
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return sorted({m.rstrip(".") for m in re.findall(r"python -m (fusiongym\.[a-z_.]*[a-z_])", text)})


def test_the_readme_names_its_modules_by_the_installed_names():
    assert len(_readme_modules()) >= 10
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    import re
    assert not re.findall(r"python -m (?:accelerator|envs|agents|experiments|benchmarks)\b", text)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("module", _readme_modules())
def test_every_readme_module_command_runs(module):
    """Each `python -m fusiongym...` of the README answers --help (it found its package
    under the installed name: a bare folder name left inside it would fail here)."""
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-1500:]
