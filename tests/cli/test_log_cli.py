"""`verify` checks the transparency log; `log monitor` reports the entries that touch a team's namespaces."""

from __future__ import annotations

import json
import subprocess

from tests.live_registry import BIN, live_registry_fixture  # noqa: F401

CLI = str(BIN / "action-registry")


def run(live, *args, state_dir):
    env = {**live.env, "ACTION_REGISTRY_STATE_DIR": str(state_dir)}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_verify_includes_the_log_and_monitor_reports_publishes(live_registry, tmp_path):
    live = live_registry
    live.publish_seed("logwatch.deploy", "1.0.0")
    done = run(live, "verify", "logwatch.deploy", "1.0.0", "--json", state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    checks = json.loads(done.stdout)["checks"]
    assert any(c.startswith("logged as entry") and "consistent with earlier checkpoints" in c for c in checks)
    assert (tmp_path / "checkpoints.json").exists()

    live.publish_seed("logwatch.rollback", "1.0.0")
    live.publish_seed("otherteam.thing", "1.0.0")
    monitored = run(live, "log", "monitor", "--namespace", "logwatch", "--json", state_dir=tmp_path)
    assert monitored.returncode == 0, monitored.stderr
    report = json.loads(monitored.stdout)
    subjects = {(m.get("name"), m.get("kind")) for m in report["matches"]}
    assert ("logwatch.deploy", "action.published") in subjects
    assert ("logwatch.rollback", "action.published") in subjects
    assert not any(m.get("name") == "otherteam.thing" for m in report["matches"])
    # The next run reads only what is new.
    again = json.loads(run(live, "log", "monitor", "--namespace", "logwatch", "--json", state_dir=tmp_path).stdout)
    assert again["start"] == report["end"] and again["matches"] == []


def test_verify_of_an_unlogged_version_fails(live_registry, tmp_path):
    done = run(live_registry, "verify", "logwatch.never", "9.9.9", state_dir=tmp_path)
    assert done.returncode == 2  # not found is a usage error, not a verification failure
