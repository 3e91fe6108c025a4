"""Offline verification of a 10,000-action snapshot bundle: full (every publisher signature and chain), hash-level,
and python-tuf's ngclient checking the same bundle's TUF metadata, in the same run.

    .venv/bin/python bench/snapshot_verify.py [--actions 10000] [--repeat 5] [--jobs 2]

The documents are the real BFCL tool schemas (../shared/testdata/functions), cycled through versions up to the
requested count; half are signed by a root key, half by a delegated key whose certificate chains to a second root,
so the full level walks real chains. Nothing here touches a database or the network.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from action_registry import chain, crypto  # noqa: E402
from action_registry import snapshot as snap  # noqa: E402
from action_registry.canonical import canonicalize  # noqa: E402
from action_registry.document import sign_document  # noqa: E402

TESTDATA = Path(os.environ.get("ACTION_REGISTRY_TESTDATA", ROOT.parent / "shared" / "testdata"))


def documents(count: int) -> list[dict]:
    done = subprocess.run([sys.executable, str(TESTDATA / "functions" / "to_actions.py")], capture_output=True,
                          text=True, check=True)
    base = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    docs = []
    for i in range(count):
        doc = dict(base[i % len(base)])
        doc["version"] = f"1.{i // len(base)}.0"
        docs.append(doc)
    return docs


def build(count: int, workdir: Path) -> tuple[Path, dict, bytes]:
    now = datetime.now(UTC)
    root, online, publisher_root, org_root, delegated = (crypto.generate_private_key() for _ in range(5))
    cert = chain.sign_certificate(chain.make_certificate(
        kid="bench-signing-1", alg="Ed25519", public_key=crypto.public_key_b64(delegated), parent_kid="bench-org-root",
        scopes=sorted({d["name"].split(".", 1)[0] for d in documents(min(count, 2000))}),
        not_before=now - timedelta(days=1), not_after=now + timedelta(days=365)), org_root, "bench-org-root")
    keys = {"keys": [
        {"kid": "bench-root-1", "alg": "Ed25519", "public_key": crypto.public_key_b64(publisher_root),
         "status": "active", "role": "root", "scopes": []},
        {"kid": "bench-org-root", "alg": "Ed25519", "public_key": crypto.public_key_b64(org_root),
         "status": "active", "role": "root", "scopes": []},
        {"kid": "bench-signing-1", "alg": "Ed25519", "public_key": crypto.public_key_b64(delegated),
         "status": "active", "role": "signing", "scopes": cert["certificate"]["scopes"],
         "parent_kid": "bench-org-root", "parent_alg": "Ed25519", "certificate": cert["certificate"],
         "certificate_signature": cert["signature"]}], "revocations": []}
    entries, published = [], chain.format_time(now)
    for i, doc in enumerate(documents(count)):
        key, kid = (publisher_root, "bench-root-1") if i % 2 else (delegated, "bench-signing-1")
        envelope = sign_document(doc, key, kid)
        entries.append(snap.Entry(doc["name"], doc["version"], canonicalize(doc), envelope["signature"],
                                  published))
    root_json = snap.root_build(root_keys=[root], online_public_key=online, version=1,
                                expires=now + timedelta(days=365))
    data = snap.bundle_build(entries=entries, extras={snap.KEYS_TARGET: canonicalize(keys),
                                                      snap.POLICIES_TARGET: b"{}"},
                             root_json=root_json, online_key=online, version=1,
                             expires={r: now + timedelta(days=1) for r in ("timestamp", "snapshot", "targets")},
                             generated_at=now)
    path = workdir / "bundle.tar"
    path.write_bytes(data)
    return path, snap.root_key_from_text(crypto.public_key_b64(root)), root_json


def ours(path: Path, root_key: dict, level: str, jobs: int) -> float:
    start = time.perf_counter()
    report = snap.bundle_verify(snap.bundle_load(path), root_key=root_key, level=level, processes=jobs)
    elapsed = time.perf_counter() - start
    assert report.ok, report.failures[:3]
    return elapsed


def python_tuf(path: Path, root_json: bytes) -> float:
    """python-tuf's client: trusted root -> timestamp -> snapshot -> targets -> every delegated role."""
    from tuf.api.exceptions import DownloadHTTPError
    from tuf.ngclient import FetcherInterface, Updater

    start = time.perf_counter()
    files = snap.bundle_load(path)

    class BundleFetcher(FetcherInterface):
        def _fetch(self, url):
            name = url.split("://bundle/", 1)[1]
            if name not in files:
                raise DownloadHTTPError(name, 404)
            return iter([files[name]])

    with tempfile.TemporaryDirectory() as metadata_dir:
        updater = Updater(metadata_dir=metadata_dir, metadata_base_url="https://bundle/metadata/",
                          target_base_url="https://bundle/targets/", fetcher=BundleFetcher(), bootstrap=root_json)
        updater.refresh()
        first_per_role = {}
        for name in files:
            if name.startswith("targets/actions/"):
                first_per_role.setdefault(name.split("/")[2], name[len("targets/"):])
        for target in first_per_role.values():  # loads and verifies each delegated role's metadata
            assert updater.get_targetinfo(target) is not None
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path, root_key, root_json = build(args.actions, Path(tmp))
        print(f"built {args.actions} actions, {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        runs = {"full (signatures + chains)": [], "hash-level": [], "python-tuf ngclient (metadata)": []}
        for _ in range(args.repeat):
            runs["full (signatures + chains)"].append(ours(path, root_key, snap.FULL, args.jobs))
            runs["hash-level"].append(ours(path, root_key, snap.HASH, args.jobs))
            runs["python-tuf ngclient (metadata)"].append(python_tuf(path, root_json))
        for name, times in runs.items():
            print(f"{name:34} median {statistics.median(times):.3f} s  min {min(times):.3f} s  "
                  f"({len(times)} runs)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
