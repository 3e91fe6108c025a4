"""The `action-registry` console script, run as a subprocess against a live registry."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from action_registry.canonical import canonicalize, content_hash
from tests.live_registry import BIN, Proxy, free_port, live_registry_fixture, make_doc  # noqa: F401

CLI = str(BIN / "action-registry")


def run(live, *args: str, env: dict | None = None, cwd: Path | None = None, stdin: str | None = None):
    env = {**live.env, **(env or {})}
    return subprocess.run([CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, input=stdin)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def test_walkthrough_keygen_sign_publish_fetch_verify_search(live_registry, workdir):
    live = live_registry
    keys = {}
    for alg, kid in (("Ed25519", "cli-ed-1"), ("ES256", "cli-es-1")):
        done = ok(run(live, "keygen", "--alg", alg, "--out", f"{kid}.pem", cwd=workdir))
        assert stat.S_IMODE((workdir / f"{kid}.pem").stat().st_mode) == 0o600
        assert (workdir / f"{kid}.pem.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
        assert "trust_key add" in done.stderr
        keys[kid] = done.stdout.strip()
    assert len(keys["cli-ed-1"]) == 43 and len(keys["cli-es-1"]) == 87  # base64url of 32 / 65 raw bytes
    # The operators' step: trust the publishers' public keys (both at once, to keep the test short).
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda item: live.manage("trust_key", "add", "--kid", item[0], "--alg", item[1],
                                               "--public-key", str(workdir / f"{item[0]}.pem.pub")),
                      [("cli-ed-1", "Ed25519"), ("cli-es-1", "ES256")]))

    for kid, name in (("cli-ed-1", "cliwalk.deploy"), ("cli-es-1", "cliwalk.rollback")):
        doc = make_doc(name, "1.0.0", f"Walkthrough action {name}: deploy a build to staging.")
        (workdir / "doc.json").write_text(json.dumps(doc, indent=4))
        signed = ok(run(live, "sign", "doc.json", "--key", f"{kid}.pem", "--kid", kid, "-o", "env.json",
                        cwd=workdir))
        assert content_hash(canonicalize(doc)) in signed.stderr
        envelope = json.loads((workdir / "env.json").read_text())
        assert envelope["action"] == doc and envelope["signature"]["kid"] == kid
        published = ok(run(live, "publish", "env.json", cwd=workdir))
        assert published.stdout.startswith(f"published: {name}@1.0.0 sha256:")
        verified = ok(run(live, "verify", name, "1.0.0"))
        assert verified.stdout.startswith(f"verified {name}@1.0.0 sha256:") and "key active" in verified.stdout

    again = ok(run(live, "publish", "env.json", cwd=workdir))
    assert again.stdout.startswith("already published")
    fetched = ok(run(live, "fetch", "cliwalk.deploy"))
    assert json.loads(fetched.stdout)["name"] == "cliwalk.deploy" and "(latest)" in fetched.stderr
    record = json.loads(ok(run(live, "fetch", "cliwalk.rollback", "1.0.0", "--json")).stdout)
    assert record["content_hash"] == content_hash(canonicalize(record["action"]))
    pinned = ok(run(live, "verify", "cliwalk.deploy", "1.0.0", "--public-key", str(workdir / "cli-ed-1.pem.pub"),
                    "--json"))
    assert json.loads(pinned.stdout)["key_source"] == "pinned"

    found = ok(run(live, "search", "walkthrough", "--json"))
    assert {"cliwalk.deploy", "cliwalk.rollback"} <= {i["name"] for i in json.loads(found.stdout)["items"]}
    listed = ok(run(live, "keys", "list")).stdout
    assert "cli-ed-1\tEd25519\tactive" in listed and "cli-es-1\tES256\tactive" in listed
    shown = json.loads(ok(run(live, "key", "show", "cli-es-1", "--json")).stdout)
    assert shown["public_key"] == keys["cli-es-1"]

    # An operator revokes the ES256 key: what it signed no longer verifies.
    live.manage("trust_key", "revoke", "--kid", "cli-es-1", "--reason", "test: key retired")
    revoked = run(live, "verify", "cliwalk.rollback", "1.0.0")
    assert revoked.returncode == 1, revoked.stderr
    assert "NOT VERIFIED" in revoked.stderr and "key_revoked" in revoked.stderr


def _tamper(mode: str):
    def rewrite(path: str, body: bytes) -> bytes:
        if "/versions/" not in path:
            return body
        record = json.loads(body)
        record["action"]["description"] = "Move a file. Also upload it to a stranger."
        if mode == "rehash":
            record["content_hash"] = content_hash(canonicalize(record["action"]))
        return json.dumps(record).encode()
    return rewrite


@pytest.mark.parametrize(("mode", "reason"), [("keep-hash", "content_hash_mismatch"),
                                              ("rehash", "signature_invalid")])
def test_a_tampered_record_fails_verification(live_registry, mode, reason):
    with Proxy(live_registry.url, rewrite=_tamper(mode)) as mirror:
        done = run(live_registry, "verify", "files.move", "1.0.0", "--registry", mirror.url)
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and reason in done.stderr
    assert "the registry claims it verifies" in done.stderr


def test_errors_exit_2_with_one_line(live_registry, workdir):
    live = live_registry
    missing = run(live, "verify", "files.move", "7.0.0")
    assert missing.returncode == 2 and "version_not_found" in missing.stderr and "1.1.0" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

    unreachable = run(live, "--retries", "0", "--json", "search", "x",
                      env={"ACTION_REGISTRY_URL": f"http://127.0.0.1:{free_port()}"})
    assert unreachable.returncode == 2 and "network_error" in unreachable.stderr
    assert json.loads(unreachable.stdout)["error"]["code"] == "network_error"

    (workdir / "env.json").write_text(json.dumps({"action": make_doc("cliwalk.nokey"),
                                                  "signature": {"kid": "x", "alg": "Ed25519", "sig": "AA"}}))
    no_key = run(live, "publish", "env.json", cwd=workdir, env={"ACTION_REGISTRY_API_KEY": ""})
    assert no_key.returncode == 2 and "missing_api_key" in no_key.stderr

    (workdir / "dup.json").write_text('{"name": "a.b", "name": "c.d"}')
    duplicate = run(live, "sign", "dup.json", "--key", "none.pem", "--kid", "k", cwd=workdir)
    assert duplicate.returncode == 2 and "duplicate_key" in duplicate.stderr

    usage = run(live, "fetch")
    assert usage.returncode == 2 and "error" in usage.stderr


def test_api_key_and_registry_flags_override_the_environment(live_registry, workdir):
    env = {"ACTION_REGISTRY_URL": "http://127.0.0.1:9", "ACTION_REGISTRY_API_KEY": ""}
    done = run(live_registry, "fetch", "files.copy", "--registry", live_registry.url, "--envelope", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["signature"]["alg"] == "Ed25519"
    assert os.environ.get("ACTION_REGISTRY_API_KEY") != live_registry.api_key
