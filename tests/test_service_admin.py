"""API keys with scopes, loopback-only without keys, and the admin reload that swaps the
registry whole or not at all; one real server process with a keys file for the module."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearline.service.keys import add_key
from tests.conftest import POLICIES, run_cli
from tests.service_process import ServiceProcess

DECIDE = "/v1/policies/credit-line-closure/decide"
BODY = {"account_id": "K1", "facts": {"days_past_due": 45}, "as_of": "2027-03-01"}


class Keyed:
    """The server, its policy folder and one key per scope."""

    def __init__(self, server: ServiceProcess, folder: Path, keys: dict[str, str]) -> None:
        self.server, self.folder, self.keys = server, folder, keys

    def auth(self, scope: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[scope]}"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    tmp = tmp_path_factory.mktemp("keyed")
    shutil.copytree(POLICIES, tmp / "policies")
    keys_file = tmp / "keys.json"
    keys = {}
    made = run_cli("keys", "add", "--file", str(keys_file), "--name", "decide", "--scope", "decide")
    assert made.returncode == 0, made.stderr
    keys["decide"] = made.stdout.strip()
    for scope in ("read", "admin"):  # the same function the command calls, without a process
        keys[scope] = add_key(keys_file, scope, [scope])
    server = ServiceProcess(tmp / "policies", tmp / "audit.db", "--keys", str(keys_file))
    yield Keyed(server, tmp / "policies", keys)
    code, err = server.stop()
    assert code == 0, err


def test_keys_are_hashed_at_rest(keyed: Keyed) -> None:
    text = (keyed.folder.parent / "keys.json").read_text()
    stored = json.loads(text)["keys"]
    assert [k["scopes"] for k in stored] == [["decide"], ["read"], ["admin"]]
    assert all(key not in text for key in keyed.keys.values())
    assert "API keys from" in keyed.server.banner


def test_scopes(keyed: Keyed) -> None:
    http = keyed.server.client
    missing = http.post(DECIDE, json=BODY)
    assert (missing.status_code, missing.json()["code"]) == (401, "H001")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = http.post(DECIDE, json=BODY, headers={"authorization": "Bearer clk_not-a-key"})
    assert wrong.status_code == 401
    decided = http.post(DECIDE, json=BODY, headers=keyed.auth("decide"))
    assert decided.status_code == 200
    record = f"/v1/decisions/{decided.json()['decision_id']}"
    forbidden = http.get(record, headers=keyed.auth("decide"))
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "H002")
    assert http.get(record, headers=keyed.auth("read")).content == decided.content
    assert http.post(DECIDE, json=BODY, headers=keyed.auth("read")).status_code == 403
    assert http.post("/v1/admin/reload", headers=keyed.auth("read")).status_code == 403
    assert http.get("/metrics").status_code == 401
    assert http.get("/healthz").status_code == 200  # probes need no key


def test_reload_swaps_only_a_folder_that_checks(keyed: Keyed) -> None:
    http, admin = keyed.server.client, keyed.auth("admin")
    folder = keyed.folder / "credit-line-closure"
    source = (folder / "1.1.0.yaml").read_text(encoding="utf-8")
    # A broken version: the reload answers located errors and the running registry stays.
    broken = source.replace("version: 1.1.0", "version: 1.2.0").replace(
        "effective_from: 2027-01-15", "effective_from: 2028-01-01\n  nonsense: 1"
    )
    (folder / "1.2.0.yaml").write_text(broken, encoding="utf-8")
    refused = http.post("/v1/admin/reload", headers=admin)
    assert refused.status_code == 422, refused.text
    errors = refused.json()["errors"]
    assert any("1.2.0.yaml:" in e["location"] for e in errors)
    versions = http.get("/v1/policies", headers=keyed.auth("read")).json()["policies"][0]
    assert [v["version"] for v in versions["versions"]] == ["1.0.0", "1.1.0"]
    assert http.post(DECIDE, json=BODY, headers=keyed.auth("decide")).status_code == 200
    # Fixed: swapped whole; a decision after 1.2.0 takes effect is made with it.
    fixed = source.replace("version: 1.1.0", "version: 1.2.0").replace(
        "effective_from: 2027-01-15", "effective_from: 2028-01-01"
    )
    (folder / "1.2.0.yaml").write_text(fixed, encoding="utf-8")
    reloaded = http.post("/v1/admin/reload", headers=admin)
    assert reloaded.status_code == 200, reloaded.text
    assert "credit-line-closure 1.2.0" in reloaded.json()["versions"]
    later = http.post(DECIDE, json={**BODY, "as_of": "2028-02-01"}, headers=keyed.auth("decide"))
    assert later.json()["policy"]["version"] == "1.2.0"
    earlier = http.post(DECIDE, json=BODY, headers=keyed.auth("decide"))
    assert earlier.json()["policy"]["version"] == "1.1.0"
    assert "Facts-credit-line-closure-1.2.0" in http.get("/v1/openapi.json").text


def test_without_keys_only_loopback(tmp_path: Path) -> None:
    refused = run_cli(
        "serve",
        "--policies",
        str(POLICIES),
        "--audit",
        str(tmp_path / "a.db"),
        "--host",
        "0.0.0.0",
    )
    assert refused.returncode == 2
    assert "loopback only" in refused.stderr
    assert "Traceback" not in refused.stderr
    broken = tmp_path / "keys.json"
    broken.write_text('{"format": "clearline-keys/1", "keys": [{"name": "x"}]}')
    bad = run_cli(
        "serve",
        "--policies",
        str(POLICIES),
        "--audit",
        str(tmp_path / "a.db"),
        "--keys",
        str(broken),
    )
    assert bad.returncode == 1
    assert "error[H100]" in bad.stderr
