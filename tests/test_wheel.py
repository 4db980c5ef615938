"""Installed anywhere: the wheel, installed in a fresh virtual environment outside the repository,
runs `demo`, `init`, `check`, `test` and `disclose` in an empty folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT

SOURCES = ("pyproject.toml", "README.md", "clearline", "engine", "disclosures", "policies")


def _run(*args: str | Path, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with Clearline installed from its wheel; its `bin` folder."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    # Built with this environment's setuptools (the `dev` extra), not a downloaded one.
    built = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        "dist",
        src,
        cwd=work,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("clearline-*.whl")
    env = work / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", env, cwd=work)
    assert made.returncode == 0, made.stderr
    # The dependencies come from this environment (no downloads); Clearline only from the wheel,
    # installed into the new environment's own site-packages, which comes first on sys.path.
    python = env / "bin" / "python"
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=work
        ).stdout.strip()
    )
    (site / "clearline-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=work,
    )
    assert installed.returncode == 0, installed.stderr
    return env / "bin"


def test_the_installed_package_is_the_wheel(venv: Path, tmp_path: Path) -> None:
    where = _run(venv / "python", "-c", "import clearline; print(clearline.__file__)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert str(ROOT) not in where.stdout
    assert str(venv.parent) in where.stdout


def test_demo_runs_in_an_empty_folder(venv: Path, tmp_path: Path) -> None:
    result = _run(venv / "clearline", "demo", "-n", "300", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cannot read file" not in result.stderr
    assert (tmp_path / "out").is_dir() and any((tmp_path / "out").iterdir())
    assert list(tmp_path.glob("clearline-*.db"))


def test_init_check_test_and_disclose_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    clearline = venv / "clearline"
    assert _run(clearline, "init", ".", "--lang", "zh-CN,en", cwd=tmp_path).returncode == 0
    checked = _run(clearline, "check", ".", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checked 1 policy: 0 errors, 0 warnings" in checked.stdout
    tested = _run(clearline, "test", ".", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    disclosed = _run(
        clearline, "disclose", "my-credit-line/1.0.0.yaml", "--lang", "en", cwd=tmp_path
    )
    assert disclosed.returncode == 0, disclosed.stderr
    assert "My credit line rules" in disclosed.stdout
