"""The embedded default (``make run``: SQLite, no Redis) takes other code paths than the suite's PostgreSQL:
the ORM publish transaction, the transparency log appended in Python, events marked dispatched by the fan-out.
One process on a fresh SQLite file publishes, re-publishes and checks the log against an in-memory tree."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = r'''
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import connection
from django.test import Client
from action_registry import crypto, merkle
from action_registry.document import sign_document
from core.models import Event, LogLeaf
from core.transparency import _iso, log_receipt_for
from governance.services import api_key_create, signing_key_add
from registry.models import Action

assert connection.vendor == "sqlite", connection.vendor
key = crypto.generate_private_key(crypto.ED25519)
signing_key_add(kid="embedded-root", alg=crypto.ED25519, public_key=crypto.public_key_b64(key), actor="test")
client = Client(HTTP_HOST="127.0.0.1",
                HTTP_AUTHORIZATION="Bearer " + api_key_create(name="t", namespaces=["*"], actor="test").token)
def publish(doc):
    return client.post("/v1/actions", data=json.dumps(sign_document(doc, key, "embedded-root")),
                       content_type="application/json")
for i in range(7):
    doc = {"name": f"ssh.a{i % 3}", "version": f"1.{i}.0", "description": "é \u2028 \U0001f600 line",
           "input_schema": {"type": "object", "properties": {"ratio": {"type": "number", "maximum": 0.5}}},
           "output_schema": {"type": "object"}}
    resp = publish(doc)
    assert resp.status_code == 201, resp.content
    assert resp.json()["receipt"] == log_receipt_for(kind="action.published", subject=f"{doc['name']}@{doc['version']}")
assert publish(doc).status_code == 200
doc["description"] = "other bytes"
assert publish(doc).status_code == 409
# Without an API key (the demo seeding, management commands): the trust state is read as raw SQLite text and
# re-checked in the transaction against the ORM's datetime; a revoked API key kept by the process is refused.
from action_registry.document import parse_envelope
from governance.services import api_key_revoke
from registry.services import action_version_publish
assert action_version_publish(envelope=parse_envelope(sign_document({**doc, "name": "ssh.keyless"}, key,
                                                                  "embedded-root")), api_key=None).created
api_key_revoke(name="t", actor="test")
resp = publish({**doc, "name": "ssh.after-revocation"})
assert resp.status_code == 401 and resp.json()["error"]["code"] == "api_key_revoked", resp.content
latest = Action.objects.get(name="ssh.a0").latest_version
assert latest.version == "1.6.0", (latest.version, list(Action.objects.get(name="ssh.a0").versions.values_list("version", flat=True)))
leaves = list(LogLeaf.objects.order_by("index"))
tree = merkle.MemoryTree(merkle.leaf_hash(bytes(leaf.data)) for leaf in leaves)
for leaf in leaves:
    assert bytes(leaf.root_hash) == tree.root(leaf.index + 1)
    assert json.loads(bytes(leaf.data))["integrated_at"] == _iso(leaf.integrated_at)
assert (len(leaves), Event.objects.count()) == (9, 8), (len(leaves), Event.objects.count())  # leaves: the key and eight publishes; events: the publishes
assert not Event.objects.filter(dispatched_at__isnull=True).exists()  # no Redis: the fan-out marks them
print("embedded ok")
'''


def test_publish_and_log_on_the_embedded_sqlite(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}", "REDIS_URL": "",
           "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"}
    env.pop("PYTEST_VERSION", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "embedded ok" in out.stdout
