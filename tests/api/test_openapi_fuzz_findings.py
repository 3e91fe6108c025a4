"""What the stateful fuzzer found (tests/api/test_stateful.py), kept as plain regressions: values PostgreSQL
cannot hold were 500s with a traceback; they are the caller's bad input, answered with a documented 4xx."""

from __future__ import annotations

import pytest

from action_registry import crypto
from action_registry.canonical import canonicalize
from action_registry.errors import DocumentError
from registry.models import ActionVersion
from tests.conftest import make_doc

NUL_PATHS = [
    "/v1/actions?q=a%00b",
    "/v1/actions?kid=a%00b",
    "/v1/actions?namespace=a%00b",
    "/v1/actions/a%00b",
    "/v1/keys/a%00b",
    "/v1/keys/a%00b/chain",
    "/v1/log/proof/inclusion?subject=a%00b",
    "/v1/channels/a%00b",
]


@pytest.mark.parametrize("path", NUL_PATHS)
def test_a_nul_in_a_parameter_is_a_422(api, path):
    response = api.client.get(path)
    assert response.status_code == 422, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "NUL" in error["message"] and error["suggestion"]


def test_a_nul_in_the_description_is_refused_before_anything_is_stored(api, trusted_signer):
    doc = make_doc("files.nul", description="one\x00two")
    with pytest.raises(DocumentError):  # the SDK will not sign it...
        trusted_signer.sign(doc)
    # ...but a hand-made signature over the canonical bytes is a valid signature the server must refuse cleanly
    signature = {"kid": trusted_signer.kid, "alg": trusted_signer.alg,
                 "sig": crypto.sign(trusted_signer.private_key, canonicalize(doc))}
    envelope = {"action": doc, "signature": signature}
    response = api.publish(envelope)
    assert response.status_code == 422, response.content[:300]
    assert response.json()["error"]["code"] == "invalid_document"
    assert "U+0000" in response.json()["error"]["message"]
    assert not ActionVersion.objects.filter(action__name="files.nul").exists()
