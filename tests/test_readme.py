"""The README's walkthroughs run verbatim (one shell, in order) against a real server and database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, test_database_url

BLOCK = re.compile(r"<!-- readme-test -->\n```sh\n(.*?)```", re.S)


def readme_script(workdir: Path) -> str:
    blocks = BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 3, "the walkthrough blocks are marked with <!-- readme-test -->"
    script = "\n".join(blocks).replace("/tmp/ar-walk", str(workdir))
    return "set -euo pipefail\n" + script


@pytest.mark.slow
def test_readme_walkthroughs_run_verbatim(registry_server, tmp_path):
    url = registry_server()
    env = {**os.environ, "ACTION_REGISTRY_URL": url, "DATABASE_URL": test_database_url(),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    for var in ("PYTEST_VERSION", "ACTION_REGISTRY_API_KEY"):
        env.pop(var, None)
    proc = subprocess.run(["bash", "-c", readme_script(tmp_path / "walk")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "readme-walkthrough.log").write_text(out)
    assert proc.returncode == 0, out[-4000:]
    assert "published: ssh.exec@1.0.0" in out
    assert "verified ssh.exec@1.0.0" in out
    assert "refused, as it should be" in out          # the false compatibility claim
    assert "X-Action-Deprecated: true" in out
    assert "infra-deploy-1 (Ed25519) is now active" in out
    assert '"verified": true' in out                   # 3.0.0 through the three-level chain
    assert "not verified, as it should be" in out      # after the org key's revocation
