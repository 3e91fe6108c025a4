"""Signed snapshots: exported by the registry, verified offline by the CLI and by python-tuf's own client."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command

from action_registry import crypto
from action_registry import snapshot as snap
from tests.conftest import make_doc

ROOT = Path(__file__).resolve().parents[2]
CLI = [str(Path(sys.executable).parent / "action-registry")]


@pytest.fixture
def snapshot_root(tmp_path, settings):
    """An operator's offline root key and the root metadata it signed; online key under tmp (0600)."""
    settings.ACTION_REGISTRY_SNAPSHOT_KEY_FILE = tmp_path / "var" / "online-key.pem"
    settings.ACTION_REGISTRY_SNAPSHOT_ROOT_FILE = tmp_path / "var" / "root.json"
    root_key = crypto.generate_private_key()
    key_file = tmp_path / "offline-root.pem"
    crypto.write_private_key(key_file, root_key)
    call_command("snapshot", "root", "--root-key", str(key_file), stdout=io.StringIO())
    assert oct(settings.ACTION_REGISTRY_SNAPSHOT_KEY_FILE.stat().st_mode & 0o777) == "0o600"
    public = tmp_path / "root.pub"
    public.write_bytes(crypto.public_key_pem(root_key))
    return public


def offline_cli(*args: str, state: Path) -> subprocess.CompletedProcess:
    """The CLI with no registry anywhere: the URL points at a closed port, so any network use would fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
    env.update(ACTION_REGISTRY_URL="http://127.0.0.1:9", ACTION_REGISTRY_STATE_DIR=str(state), no_proxy="*")
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def publish_some(api, trusted_signer, names):
    for name, version in names:
        assert api.publish(trusted_signer.sign(make_doc(name, version))).status_code == 201


@pytest.mark.django_db
def test_snapshot_verifies_offline_with_cli_and_python_tuf(api, trusted_signer, snapshot_root, tmp_path):
    publish_some(api, trusted_signer, [("ssh.exec", "1.0.0"), ("ssh.exec", "1.1.0"), ("files.move", "1.0.0"),
                                       ("db.query", "1.0.0")])
    response = api.get("/v1/snapshot", namespace=["ssh", "files"])
    assert response.status_code == 200 and response["Content-Type"] == "application/x-tar"
    bundle = tmp_path / "bundle.tar"
    bundle.write_bytes(response.content)
    files = snap.tar_read(response.content)
    assert "targets/actions/ssh/ssh.exec@1.1.0.json" in files and "metadata/ns-ssh.json" in files
    assert not any("db.query" in path for path in files)  # only the chosen namespaces

    state = tmp_path / "state"
    done = offline_cli("snapshot", "verify", str(bundle), "--root", str(snapshot_root), "--json", state=state)
    assert done.returncode == 0, done.stderr
    assert '"signatures_checked": 3' in done.stdout
    done = offline_cli("snapshot", "fetch", str(bundle), "ssh.exec", "--root", str(snapshot_root), state=state)
    assert done.returncode == 0, done.stderr
    assert '"version": "1.1.0"' in done.stdout  # the highest release, from the bundle alone
    done = offline_cli("snapshot", "verify-action", str(bundle), "files.move", "1.0.0", "--root",
                       str(snapshot_root), state=state)
    assert done.returncode == 0 and "verified files.move@1.0.0" in done.stdout

    # any TUF client can check it: python-tuf's ngclient, bootstrapped with the root metadata
    from tuf.api.exceptions import DownloadHTTPError
    from tuf.ngclient import FetcherInterface, Updater

    class BundleFetcher(FetcherInterface):
        def _fetch(self, url):
            path = url.split("://bundle/", 1)[1]
            if path not in files:
                raise DownloadHTTPError(f"{path} not in the bundle", 404)
            return iter([files[path]])

    metadata_dir = tmp_path / "tuf"
    metadata_dir.mkdir()
    updater = Updater(metadata_dir=str(metadata_dir), metadata_base_url="https://bundle/metadata/",
                      target_base_url="https://bundle/targets/", fetcher=BundleFetcher(),
                      bootstrap=files["metadata/root.json"])
    updater.refresh()
    info = updater.get_targetinfo("actions/ssh/ssh.exec@1.0.0.json")
    assert info is not None and info.length == len(files["targets/actions/ssh/ssh.exec@1.0.0.json"])


def test_publisher_signature_and_chain_are_checked_beyond_the_hashes(tmp_path):
    """Metadata signed by the registry cannot vouch for a forged publisher signature: the full level refuses it."""
    root, online, publisher = (crypto.generate_private_key() for _ in range(3))
    now = datetime.now(UTC)
    doc = make_doc("ssh.exec", "1.0.0")
    from action_registry.canonical import canonicalize
    from action_registry.document import sign_document

    good = sign_document(doc, publisher, "pub-1")["signature"]
    forged = {**good, "sig": crypto.sign(crypto.generate_private_key(), canonicalize(doc))}
    keys = {"keys": [{"kid": "pub-1", "alg": "Ed25519", "public_key": crypto.public_key_b64(publisher),
                      "status": "active", "role": "root", "scopes": []}], "revocations": []}
    root_json = snap.root_build(root_keys=[root], online_public_key=online, version=1,
                                expires=now + timedelta(days=1))
    root_key = snap.root_key_from_text(crypto.public_key_b64(root))

    def bundle(signature):
        return snap.tar_read(snap.bundle_build(
            entries=[snap.Entry("ssh.exec", "1.0.0", canonicalize(doc), signature, "2026-01-01T00:00:00Z")],
            extras={snap.KEYS_TARGET: canonicalize(keys)}, root_json=root_json, online_key=online, version=1,
            expires={r: now + timedelta(hours=1) for r in ("timestamp", "snapshot", "targets")}, generated_at=now))

    assert snap.bundle_verify(bundle(good), root_key=root_key).ok
    assert snap.bundle_verify(bundle(forged), root_key=root_key, level=snap.HASH).ok
    [failure] = snap.bundle_verify(bundle(forged), root_key=root_key).failures
    assert failure.code == "signature_invalid"
    keys["keys"][0]["status"] = "revoked"
    [failure] = snap.bundle_verify(bundle(good), root_key=root_key).failures
    assert failure.code == "key_revoked"
    tampered = bundle(good)
    tampered["metadata/timestamp.json"] = tampered["metadata/timestamp.json"].replace(b'"version":1', b'"version":9')
    with pytest.raises(snap.SnapshotError) as excinfo:
        snap.bundle_verify(tampered, root_key=root_key)
    assert excinfo.value.code == "metadata_signature_invalid"
    assert tarfile.is_tarfile(io.BytesIO(snap.tar_write({"a": b"x"}, mtime=0)))
