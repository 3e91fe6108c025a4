"""Snapshot attacks, verified offline by the CLI: rollback to an older bundle, a frozen (expired) bundle, a bundle
signed by another root, a tampered target. (Moved from tests/federation/test_snapshot.py, whose helpers it uses.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from action_registry import crypto
from action_registry import snapshot as snap
from federation import snapshots
from tests.federation.test_snapshot import offline_cli, publish_some


@pytest.mark.django_db
def test_tampered_expired_and_rolled_back_snapshots_are_refused(api, trusted_signer, snapshot_root, tmp_path):
    publish_some(api, trusted_signer, [("ssh.exec", "1.0.0")])
    old = snapshots.snapshot_export()
    publish_some(api, trusted_signer, [("ssh.exec", "2.0.0")])
    new = snapshots.snapshot_export()
    assert new.version > old.version  # versions only grow
    state = tmp_path / "state"
    for name, bundle in (("old", old), ("new", new)):
        (tmp_path / f"{name}.tar").write_bytes(bundle.data)

    assert offline_cli("snapshot", "verify", str(tmp_path / "new.tar"), "--root", str(snapshot_root),
                       state=state).returncode == 0
    rolled_back = offline_cli("snapshot", "verify", str(tmp_path / "old.tar"), "--root", str(snapshot_root),
                              state=state)
    assert rolled_back.returncode == 1 and "snapshot_rollback" in rolled_back.stderr

    frozen = snapshots.snapshot_export(now=datetime.now(UTC) - timedelta(days=30))  # every role expired
    (tmp_path / "frozen.tar").write_bytes(frozen.data)
    expired = offline_cli("snapshot", "verify", str(tmp_path / "frozen.tar"), "--root", str(snapshot_root),
                          state=tmp_path / "fresh-state")
    assert expired.returncode == 1 and "snapshot_expired" in expired.stderr

    other_root = tmp_path / "other.pub"
    other_root.write_bytes(crypto.public_key_pem(crypto.generate_private_key()))
    wrong = offline_cli("snapshot", "verify", str(tmp_path / "new.tar"), "--root", str(other_root), state=state)
    assert wrong.returncode == 1 and "root_untrusted" in wrong.stderr

    files = snap.tar_read(new.data)
    path = "targets/actions/ssh/ssh.exec@2.0.0.json"
    files[path] = files[path].replace(b"Run a command", b"Wipe the disk")
    report = snap.bundle_verify(files, root_key=snap.root_key_from_text(snapshot_root.read_text()), level=snap.HASH)
    assert [(f.path, f.code) for f in report.failures] == [(path[len("targets/"):], "target_hash_mismatch")]
