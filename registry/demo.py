"""The demo catalog: real function schemas (BFCL) converted to action documents and signed by a demo key.

The demo key is made on this machine for trying the registry out; like any publisher key it lives in a
0600 file beside the data (var/demo/), and the server stores only its public half.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import transaction

from action_registry import crypto
from action_registry.document import parse_envelope, sign_document

DEMO_KID = "demo-root-1"
DEMO_API_KEY_NAME = "demo"


def testdata_dir() -> Path:
    return Path(settings.ACTION_REGISTRY["TESTDATA_DIR"])


def bfcl_documents(limit: int | None = None) -> Iterator[dict]:
    """Run the shared converter (../shared/testdata/functions/to_actions.py) and yield its documents."""
    script = testdata_dir() / "functions" / "to_actions.py"
    if not script.exists():
        raise FileNotFoundError(f"{script} is missing; set ACTION_REGISTRY_TESTDATA to the testdata folder")
    spec = importlib.util.spec_from_file_location("bfcl_to_actions", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    versions_used: dict[str, int] = {}
    count = 0
    for namespace, fn, source_id in module.sources():
        name = module.action_name(namespace, fn["name"])
        patch = versions_used.get(name, -1) + 1
        versions_used[name] = patch
        response = fn.get("response")
        yield {
            "name": name,
            "version": f"1.0.{patch}",
            "description": fn.get("description") or "",
            "input_schema": module.convert_schema(fn.get("parameters") or {"type": "dict"}),
            "output_schema": module.convert_schema(response) if response else {"type": "object"},
            "metadata": {"source": "bfcl", "source_id": source_id},
        }
        count += 1
        if limit is not None and count >= limit:
            return


def demo_key(directory: Path) -> crypto.PrivateKey:
    path = directory / "demo-root.pem"
    if path.exists():
        return crypto.load_private_key(path.read_bytes())
    directory.mkdir(parents=True, exist_ok=True)
    key = crypto.generate_private_key(crypto.ED25519)
    crypto.write_private_key(path, key)
    (directory / "demo-root.pub.pem").write_bytes(crypto.public_key_pem(key))
    return key


def seed(*, directory: Path, limit: int | None = None) -> dict:
    """Trust the demo key, issue the demo API key, publish the BFCL catalog. Idempotent."""
    from governance import selectors as gsel
    from governance import services as gsvc
    from registry.services import action_version_publish

    key = demo_key(directory)
    if not gsel.signing_keys_by_kid(kid=DEMO_KID):
        gsvc.signing_key_add(kid=DEMO_KID, alg=crypto.ED25519, public_key=crypto.public_key_b64(key),
                             actor="system:seed_demo", description="Demo root key (local development only)")
    token_file = directory / "api-key"
    if not token_file.exists() or not gsel.api_key_list().filter(name=DEMO_API_KEY_NAME).exists():
        if gsel.api_key_list().filter(name=DEMO_API_KEY_NAME).exists():
            gsvc.api_key_revoke(name=DEMO_API_KEY_NAME, actor="system:seed_demo", reason="token file lost")
            from governance.models import ApiKey
            ApiKey.objects.filter(name=DEMO_API_KEY_NAME).update(name=f"{DEMO_API_KEY_NAME}-old-{ApiKey.objects.count()}")
        issued = gsvc.api_key_create(name=DEMO_API_KEY_NAME, namespaces=["*"], actor="system:seed_demo")
        token_file.write_text(issued.token + "\n")
        token_file.chmod(0o600)
    published = existing = 0
    with transaction.atomic():
        for doc in bfcl_documents(limit):
            envelope = parse_envelope(sign_document(doc, key, DEMO_KID))
            result = action_version_publish(envelope=envelope, api_key=None)
            published += result.created
            existing += not result.created
    return {"published": published, "existing": existing, "api_key_file": str(token_file),
            "private_key_file": str(directory / "demo-root.pem")}


def demo_documents_json(limit: int = 3) -> str:
    return json.dumps(list(bfcl_documents(limit)), indent=2)
