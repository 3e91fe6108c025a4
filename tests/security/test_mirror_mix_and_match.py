"""A mirror (or any path between) serving tampered records, or real signed records under the wrong address or
spliced from two records (mix-and-match). The federation mirror and the SDK/CLI offline check refuse every one."""

from __future__ import annotations

import io
import json

import httpx
import pytest

from action_registry.canonical import canonicalize, content_hash
from action_registry.cli import EXIT_VERIFY_FAILED, main
from action_registry.client import RegistryClient
from core.models import Event
from federation.models import QuarantinedRecord
from federation.models import Upstream as UpstreamModel
from federation.services import mirror_sync, upstream_save
from tests.conftest import make_doc
from tests.federation.conftest import UPSTREAM_ROOT_KID
from tests.federation.test_mirror import configure, get
from tests.live_registry import Proxy

pytestmark = pytest.mark.django_db(transaction=True)

PUBLISHED = [("files.mix", "1.0.0"), ("files.mix", "1.1.0"), ("files.mix", "1.2.0"), ("files.sig", "1.0.0"),
             ("files.swap", "1.0.0"), ("files.other", "1.0.0"), ("files.hash", "1.0.0"), ("files.clean", "1.0.0")]
# what the mirror does, and how the federation mirror and the client name the refusal
ATTACKS = {
    ("files.mix", "1.1.0"): ("an older version's record under a newer version", "invalid_record", "record_mismatch"),
    ("files.mix", "1.2.0"): ("an older version's bytes relabelled with the newer version, hash recomputed",
                             "signature_invalid", "signature_invalid"),
    ("files.sig", "1.0.0"): ("this record's bytes with another record's signature", "signature_invalid",
                             "signature_invalid"),
    ("files.swap", "1.0.0"): ("another action's record under this name", "invalid_record", "record_mismatch"),
    ("files.hash", "1.0.0"): ("this record with another record's content hash", "hash_mismatch",
                              "content_hash_mismatch"),
}


def test_tampered_upstream_record_is_quarantined_and_never_served(upstream, registry_server):
    """(Moved from tests/federation/test_mirror.py.)"""
    upstream.publish(make_doc("files.good", "1.0.0"))
    upstream.publish(make_doc("files.evil", "1.0.0"))

    def tamper(path: str, body: bytes) -> bytes:
        if "/actions/files.evil/versions/" not in path:
            return body
        record = json.loads(body)
        record["action"]["description"] = "Exfiltrate the files to an attacker's host."
        record["content_hash"] = content_hash(canonicalize(record["action"]))  # a consistent-looking forgery
        return json.dumps(record).encode()

    with Proxy(upstream.url, rewrite=tamper) as proxy:
        report = mirror_sync(upstream=configure(upstream, url=proxy.url))

    assert "files.good@1.0.0" in report.stored  # one bad record does not block the good ones
    [finding] = [q for q in report.quarantined if q["name"] == "files.evil"]
    assert finding["reason"] == "signature_invalid"
    row = QuarantinedRecord.objects.get(name="files.evil", version="1.0.0")
    assert b"Exfiltrate" in bytes(row.record)
    event = Event.objects.get(kind="anomaly.mirror_quarantine", subject="files.evil@1.0.0")
    assert event.payload["reason"] == "signature_invalid"
    url = registry_server()
    assert get(f"{url}/v1/actions/files.evil/versions/1.0.0").status_code == 404
    assert get(f"{url}/v1/actions/files.good/versions/1.0.0").json()["verification"]["verified"] is True


@pytest.fixture
def mixing_mirror(upstream):
    """A proxy in front of the upstream serving the substitutions of ``ATTACKS``, everything else untouched."""
    for name, version in PUBLISHED:
        upstream.publish(make_doc(name, version))
    real = {ref: httpx.get(f"{upstream.url}/v1/actions/{ref[0]}/versions/{ref[1]}", timeout=60).json()
            for ref in PUBLISHED}
    relabelled = {**real["files.mix", "1.0.0"], "action": {**real["files.mix", "1.0.0"]["action"], "version": "1.2.0"}}
    relabelled["content_hash"] = content_hash(canonicalize(relabelled["action"]))
    served = {
        ("files.mix", "1.1.0"): real["files.mix", "1.0.0"],
        ("files.mix", "1.2.0"): relabelled,
        ("files.sig", "1.0.0"): {**real["files.sig", "1.0.0"], "signature": real["files.mix", "1.0.0"]["signature"]},
        ("files.swap", "1.0.0"): real["files.other", "1.0.0"],
        ("files.hash", "1.0.0"): {**real["files.hash", "1.0.0"],
                                  "content_hash": real["files.clean", "1.0.0"]["content_hash"]},
    }
    assert served.keys() == ATTACKS.keys()

    def rewrite(path: str, body: bytes) -> bytes:
        for (name, version), record in served.items():
            if path.split("?")[0] == f"/v1/actions/{name}/versions/{version}":
                return json.dumps(record).encode()
        return body

    with Proxy(upstream.url, rewrite=rewrite) as proxy:
        yield proxy


def test_the_federation_mirror_quarantines_every_substitution(upstream, mixing_mirror, api):
    mirror = upstream_save(upstream=UpstreamModel(
        name="mixer", url=mixing_mirror.url, namespaces=["files"], sync_interval_minutes=0,
        root_keys=[{"kid": UPSTREAM_ROOT_KID, "alg": "Ed25519", "public_key": upstream.root_public}]), actor="test")

    report = mirror_sync(upstream=mirror)

    assert {"files.clean@1.0.0", "files.mix@1.0.0", "files.other@1.0.0"} <= set(report.stored)
    assert not set(report.stored) & {f"{name}@{version}" for name, version in ATTACKS}
    found = {(q["name"], q["version"]): q["reason"] for q in report.quarantined}
    assert found == {ref: reason for ref, (_, reason, _) in ATTACKS.items()}
    assert QuarantinedRecord.objects.count() == len(ATTACKS)
    for name, version in ATTACKS:
        assert api.get(f"/v1/actions/{name}/versions/{version}").status_code == 404, (name, version)


def test_the_sdk_and_the_cli_refuse_every_substitution(mixing_mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("ACTION_REGISTRY_STATE_DIR", str(tmp_path))
    with RegistryClient(mixing_mirror.url) as client:
        assert client.verify("files.clean", "1.0.0").verified  # the untouched path still verifies
        for (name, version), (attack, _, reason) in ATTACKS.items():
            result = client.verify(name, version)
            assert (result.verified, result.reason) == (False, reason), attack

    for name, version in ATTACKS:
        err = io.StringIO()
        code = main(["verify", name, version, "--registry", mixing_mirror.url, "--no-log"], out=io.StringIO(),
                    err=err)
        assert code == EXIT_VERIFY_FAILED and "NOT VERIFIED" in err.getvalue(), (name, version, err.getvalue())
