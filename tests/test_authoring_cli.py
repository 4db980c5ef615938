"""Policy authors' tools on the real command line: output formats, --strict, which files
`check DIR` reads, and `clearline init`."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from clearline.engine.policy.source import read_yaml
from tests.conftest import SMALL_POLICY, run_cli

BROKEN = SMALL_POLICY.replace("action: suspend", "action: suspnd")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A repository-like folder: a broken policy, CI YAML, an ignored build folder."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "1.0.0.yaml").write_text(BROKEN)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yaml").write_text("name: ci\non: push\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "1.0.0.yaml").write_text(BROKEN)
    (tmp_path / ".gitignore").write_text("build/\n")
    return tmp_path


def test_check_dir_reads_policy_files_only_and_respects_gitignore(folder: Path) -> None:
    result = run_cli("check", "--format", "json", str(folder))
    assert result.returncode == 1
    files = {d["file"] for d in json.loads(result.stdout)}
    assert files == {str(folder / "p" / "1.0.0.yaml")}
    assert "checked 1 policy: 1 error" in result.stderr


def test_a_misnamed_tests_file_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "1.0.0.yaml").write_text(SMALL_POLICY)
    (tmp_path / "1.0.0.test.yaml").write_text(
        "tests:\n  - name: a\n    facts: {dpd: 1}\n    expect: {action: none}\n"
    )
    result = run_cli("check", str(tmp_path))
    assert result.returncode == 1
    assert "1.0.0.test.yaml:1:1: error[E102]: `1.0.0.test.yaml` looks like a tests file" in (
        result.stderr
    )
    assert "apiVersion" not in result.stderr.split("E102")[0]
    assert result.stderr.count("error[") == 1


def test_sarif_junit_and_github_come_from_the_same_diagnostics(folder: Path) -> None:
    policy = str(folder / "p" / "1.0.0.yaml")
    sarif = json.loads(run_cli("check", "--format", "sarif", policy).stdout)
    (result,) = sarif["runs"][0]["results"]
    assert sarif["version"] == "2.1.0"
    assert result["ruleId"] == "S004" and result["level"] == "error"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (32, 13)
    assert "did you mean `suspend`?" in result["message"]["text"]

    junit = ET.fromstring(run_cli("check", "--format", "junit", policy).stdout)
    (case,) = junit.iter("testcase")
    assert case.get("name") == policy
    (failure,) = case.iter("failure")
    assert "32:13: error[S004]" in (failure.get("message") or "")

    github = run_cli("check", "--format", "github", policy).stdout.strip()
    assert github.startswith(f"::error file={policy},line=32,col=13,title=clearline S004::")
    assert "%0Ahelp: did you mean `suspend`?" in github


def test_strict_turns_warnings_into_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(SMALL_POLICY)  # four facts no rule uses: warnings
    relaxed = run_cli("check", str(path))
    assert relaxed.returncode == 0
    assert "warning[W001]" in relaxed.stderr
    strict = run_cli("check", "--strict", str(path))
    assert strict.returncode == 1
    assert "error[W001]" in strict.stderr
    assert "4 errors, 0 warnings" in strict.stdout


def test_test_command_formats(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        SMALL_POLICY
        + "tests:\n"
        + "  - name: late\n    facts: {dpd: 31}\n    expect: {action: suspend}\n"
        + "  - name: wrong\n    facts: {dpd: 0}\n    expect: {action: close}\n"
    )
    document = json.loads(run_cli("test", "--format", "json", str(path)).stdout)
    assert (document["passed"], document["failed"]) == (1, 1)
    assert document["tests"][1]["failures"] == ["action: expected close, got none"]
    junit = ET.fromstring(run_cli("test", "--format", "junit", str(path)).stdout)
    assert [c.get("name") for c in junit.iter("testcase")] == ["late", "wrong"]
    assert len(list(junit.iter("failure"))) == 1
    github = run_cli("test", "--format", "github", str(path))
    assert github.returncode == 1
    assert "title=clearline T001::test `wrong` failed" in github.stdout


@pytest.mark.parametrize("langs", ["zh-CN,en", "en"])
def test_init_writes_a_policy_that_passes_check_and_test(tmp_path: Path, langs: str) -> None:
    made = run_cli("init", str(tmp_path / "new"), "--lang", langs)
    assert made.returncode == 0, made.stderr
    policy = tmp_path / "new" / "my-credit-line" / "1.0.0.yaml"
    assert policy.read_text().startswith("# yaml-language-server: $schema=../policy.schema.json")
    assert (tmp_path / "new" / "tests.schema.json").exists()
    checked = run_cli("check", "--strict", str(tmp_path / "new"))
    assert checked.returncode == 0, checked.stderr
    tested = run_cli("test", str(tmp_path / "new"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.startswith("3 passed")
    again = run_cli("init", str(tmp_path / "new"))
    assert again.returncode == 1
    assert "error[E103]" in again.stderr
    no_language = run_cli("init", str(tmp_path / "other"), "--lang", ",")
    assert no_language.returncode == 2  # a usage error
    assert "clearline: error[E100]: --lang needs at least one language" in no_language.stderr


def test_init_output_is_valid_against_the_editor_schemas(tmp_path: Path) -> None:
    assert run_cli("init", str(tmp_path)).returncode == 0
    for data_file, schema_file in (
        ("my-credit-line/1.0.0.yaml", "policy.schema.json"),
        ("my-credit-line/1.0.0.tests.yaml", "tests.schema.json"),
    ):
        schema = json.loads((tmp_path / schema_file).read_text())
        document = read_yaml((tmp_path / data_file).read_bytes(), data_file)
        assert not document.diagnostics
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document.data))
        assert not errors, [e.message for e in errors]


def test_no_traceback_for_a_folder_without_policies(tmp_path: Path) -> None:
    result = run_cli("check", str(tmp_path))
    assert result.returncode == 1
    assert "error[E101]: no policy files found" in result.stderr
    assert isinstance(result, subprocess.CompletedProcess)
