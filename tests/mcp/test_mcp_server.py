"""`action-registry-mcp` as a real subprocess, driven by the MCP SDK's own client over stdio (and HTTP)."""

from __future__ import annotations

import json
import subprocess
import time

import anyio
from mcp import Client, StdioServerParameters

from action_registry.canonical import canonicalize, content_hash
from action_registry.document import sign_document
from tests.live_registry import BIN, SEED_KID, Proxy, free_port, live_registry_fixture, make_doc  # noqa: F401

MCP = str(BIN / "action-registry-mcp")
TOOLS = {"action_registry_discover", "action_registry_search", "action_registry_fetch", "action_registry_verify",
         "action_registry_publish", "action_registry_deprecation", "action_registry_diff",
         "action_registry_compatibility"}


def stdio(env: dict) -> Client:
    return Client(StdioServerParameters(command=MCP, args=[], env=env), read_timeout_seconds=30)


async def call(client: Client, tool: str, **arguments):
    result = await client.call_tool(tool, arguments)
    return result.is_error, result.structured_content, result.content[0].text if result.content else ""


def test_stdio_session_lists_and_calls_every_tool(live_registry):
    envelope = sign_document(make_doc("mcptest.publish", "1.0.0"), live_registry.seed_key, SEED_KID)
    conflicting = sign_document(make_doc("mcptest.publish", "1.0.0", "Other bytes, same version."),
                                live_registry.seed_key, SEED_KID)
    live_registry.publish_seed("mcptest.lifecycle", "1.0.0")
    live_registry.publish_seed("mcptest.lifecycle", "2.0.0", "Move a file (2.0.0: destination must not exist).")
    with live_registry.client() as client:
        client.deprecate("mcptest.lifecycle", "1.0.0", reason="Use 2.0.0.", successor="2.0.0")

    async def session():
        out = {}
        async with stdio(live_registry.env) as client:
            listed = (await client.list_tools()).tools
            out["tools"] = {t.name: t for t in listed}
            out["search"] = await call(client, "action_registry_search", query="move file")
            out["discover"] = await call(client, "action_registry_discover", namespace="files", limit=1)
            out["fetch"] = await call(client, "action_registry_fetch", name="files.move")
            out["verify"] = await call(client, "action_registry_verify", name="files.move", version="1.0.0")
            out["publish"] = await call(client, "action_registry_publish", envelope=envelope)
            out["republish"] = await call(client, "action_registry_publish", envelope=envelope)
            out["conflict"] = await call(client, "action_registry_publish", envelope=conflicting)
            out["bad_version"] = await call(client, "action_registry_fetch", name="files.move", version="9.9.9")
            out["bad_name"] = await call(client, "action_registry_fetch", name="files.mvoe")
            out["bad_verify"] = await call(client, "action_registry_verify", name="files.move", version="3.0.0")
            out["bad_args"] = await call(client, "action_registry_fetch", name="Not A Name")
            out["deprecated_fetch"] = await call(client, "action_registry_fetch", name="mcptest.lifecycle",
                                                 version="1.0.0")
            out["deprecation"] = await call(client, "action_registry_deprecation", name="mcptest.lifecycle",
                                            version="1.0.0")
            out["diff"] = await call(client, "action_registry_diff", name="mcptest.lifecycle", from_version="1.0.0")
            out["compatibility"] = await call(client, "action_registry_compatibility", name="mcptest.lifecycle")
            # Following the suggestion works: the error names the next call.
            next_call = out["bad_version"][1]["next_call"]
            out["followed"] = await call(client, next_call["tool"], **next_call["arguments"])
        return out

    out = anyio.run(session)

    tools = out["tools"]
    assert TOOLS <= set(tools)
    for tool in tools.values():
        assert len(tool.description) > 80, tool.name
        for prop, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description") or "$ref" in json.dumps(schema), (tool.name, prop)
    assert tools["action_registry_fetch"].input_schema["required"] == ["name"]
    assert tools["action_registry_verify"].annotations.read_only_hint is True
    assert tools["action_registry_publish"].annotations.read_only_hint is False

    is_error, found, _ = out["search"]
    assert not is_error and "files.move" in [i["name"] for i in found["items"]]
    assert found["next_call"] == {"tool": "action_registry_fetch", "arguments": {"name": found["items"][0]["name"]}}
    is_error, browsed, _ = out["discover"]
    assert not is_error and browsed["items"][0]["name"].startswith("files.")
    assert browsed["next_page"]["arguments"]["offset"] == 1

    is_error, fetched, text = out["fetch"]
    assert not is_error and fetched["version"] == "1.1.0" and fetched["versions"] == ["1.0.0", "1.1.0"]
    assert fetched["content_hash"] == content_hash(canonicalize(fetched["action"]))
    assert json.loads(text)["name"] == "files.move"

    is_error, verified, _ = out["verify"]
    assert not is_error and verified["verified"] is True and verified["key_status"] == "active"
    assert any("recomputed" in check for check in verified["checks"])
    assert any(check.startswith("logged as entry") for check in verified["checks"])  # the transparency log

    assert out["publish"][1]["created"] is True and out["republish"][1]["created"] is False
    is_error, conflict, _ = out["conflict"]
    assert is_error and conflict["error"] == "version_exists" and "bump" in conflict["suggestion"]

    is_error, bad_version, text = out["bad_version"]
    assert is_error and bad_version["error"] == "version_not_found"
    assert bad_version["next_call"] == {"tool": "action_registry_fetch",
                                        "arguments": {"name": "files.move", "version": "1.1.0"}}
    assert "1.0.0, 1.1.0" in bad_version["suggestion"] and json.loads(text)["error"] == "version_not_found"
    assert out["followed"][0] is False and out["followed"][1]["version"] == "1.1.0"

    is_error, bad_name, _ = out["bad_name"]
    assert is_error and bad_name["error"] == "action_not_found"
    assert bad_name["next_call"]["arguments"] == {"name": "files.move"}
    assert "files.move" in bad_name["details"]["close_matches"]

    assert out["bad_verify"][0] and out["bad_verify"][1]["error"] == "version_not_found"
    assert out["bad_args"][0] and "name" in out["bad_args"][2]

    is_error, old, _ = out["deprecated_fetch"]
    assert not is_error and old["deprecated"] is True and "Use 2.0.0." in old["warning"]
    assert old["next_call"] == {"tool": "action_registry_fetch",
                                "arguments": {"name": "mcptest.lifecycle", "version": "2.0.0"}}
    is_error, deprecation, _ = out["deprecation"]
    assert not is_error and deprecation["deprecation"]["successor"] == "2.0.0" and deprecation["history"]
    is_error, diff, _ = out["diff"]
    assert not is_error and (diff["from"], diff["to"]) == ("1.0.0", "2.0.0") and "breaking" in diff
    is_error, graph, _ = out["compatibility"]
    assert not is_error and [v["version"] for v in graph["versions"]] == ["1.0.0", "2.0.0"]
    assert graph["versions"][0]["deprecated"] is True


def test_verification_is_local_and_publish_needs_a_key(live_registry):
    """Through a mirror that rewrites records, verify says no although the mirror says verified: true."""
    def rewrite(path: str, body: bytes) -> bytes:
        if "/versions/" not in path:
            return body
        record = json.loads(body)
        record["action"]["output_schema"] = {"type": "object"}
        record["content_hash"] = content_hash(canonicalize(record["action"]))
        return json.dumps(record).encode()

    envelope = sign_document(make_doc("mcptest.nokey", "1.0.0"), live_registry.seed_key, SEED_KID)

    async def session(url: str):
        env = {**live_registry.env, "ACTION_REGISTRY_URL": url, "ACTION_REGISTRY_API_KEY": ""}
        async with stdio(env) as client:
            return (await call(client, "action_registry_verify", name="files.copy"),
                    await call(client, "action_registry_publish", envelope=envelope))

    with Proxy(live_registry.url, rewrite=rewrite) as mirror:
        (v_error, verdict, _), (p_error, refused, _) = anyio.run(session, mirror.url)
    assert not v_error and verdict["verified"] is False and verdict["reason"] == "signature_invalid"
    assert verdict["server_verified"] is True and "Do not run" in verdict["suggestion"]
    assert p_error and refused["error"] == "missing_api_key" and "ACTION_REGISTRY_API_KEY" in refused["suggestion"]


def test_streamable_http_transport(live_registry):
    port = free_port()
    proc = subprocess.Popen([MCP, "--transport", "http", "--port", str(port)], env=live_registry.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        import socket
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)

        async def session():
            async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=30) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                return names, await call(client, "action_registry_verify", name="files.copy", version="2.0.0")

        names, (is_error, verdict, _) = anyio.run(session)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert TOOLS <= names
    assert not is_error and verdict["verified"] is True


def test_bad_configuration_exits_2(capsys):
    from action_registry.mcp_server import main

    assert main(["--registry", "ftp://nowhere"]) == 2
    assert "invalid_url" in capsys.readouterr().err
