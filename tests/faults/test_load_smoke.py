"""A few seconds of bench/load.py's mixed traffic against a real server: no 5xx, no broken connection.
The figures (p99, throughput) are the bench's business (bench/RESULTS.md), never asserted here."""

from __future__ import annotations

from action_registry import crypto
from bench.load import run_load


def test_mixed_traffic_has_no_server_errors(registry_server, trusted_signer, make_api_token):
    token = make_api_token("load", ["load"])
    url = registry_server()
    figures = run_load(url, token, crypto.private_key_pem(trusted_signer.private_key), trusted_signer.kid,
                       duration=3, procs=2)
    assert figures["requests"] > 0 and figures["publishes"] > 0, figures
    assert figures["server_errors"] == 0 and figures["transport_errors"] == 0, figures.get("error_samples")
    assert set(figures["statuses"]) <= {200, 201}, figures
