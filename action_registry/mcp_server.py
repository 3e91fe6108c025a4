"""`action-registry-mcp`: an MCP server (official SDK, MCPServer) exposing a registry to agents.

It is a client of the registry's REST API (``ACTION_REGISTRY_URL``, ``ACTION_REGISTRY_API_KEY``), so it
works against any registry. Verification happens here, with the key fetched from the trust store, not on
the registry's word. Failures come back as tool results flagged ``isError`` whose structured content is
``{error, message, suggestion, next_call}``: ``next_call`` names a tool call that would work.

Run: ``action-registry-mcp`` (stdio), or ``action-registry-mcp --transport http --port 8765`` (streamable
HTTP at ``/mcp``).
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from . import __version__
from .client import ENV_API_KEY, ENV_URL, AsyncRegistryClient, LocalVerification, RetryPolicy, VersionRecord
from .document import parse_envelope
from .errors import AuthError, ConflictError, NetworkError, NotFoundError, RegistryError
from .logclient import inclusion_check_text, verification_log_check

SERVER_NAME = "action-registry"
INSTRUCTIONS = (
    "Action Registry: a catalog of signed actions (tool schemas, each an immutable name@version). "
    "Find actions with action_registry_search (words) or action_registry_discover (browse a namespace), "
    "read one with action_registry_fetch, and call action_registry_verify before relying on it: verification "
    "recomputes the content hash and checks the signature locally. Never run an action whose verification "
    "fails. When a call fails, its result has `suggestion` and usually `next_call`: make that call next."
)

Name = Annotated[str, Field(description="Dotted action name, lowercase segments, e.g. `ssh.exec` or `files.move`.",
                            min_length=3, max_length=200, pattern=r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$",
                            examples=["ssh.exec"])]
OptionalVersion = Annotated[str | None, Field(
    description="SemVer version, e.g. `1.2.0`. Omit for the latest release.", max_length=100,
    examples=["1.0.0"])]
Namespace = Annotated[str | None, Field(
    description="Only actions whose name starts with this dotted prefix, e.g. `ssh` or `files`.", max_length=200,
    examples=["ssh"])]
Kid = Annotated[str | None, Field(description="Only actions signed by this key id.", max_length=128)]
Limit = Annotated[int, Field(description="How many results to return (1-50).", ge=1, le=50)]
Offset = Annotated[int, Field(description="Index of the first result, for the next page.", ge=0)]

MAX_CHANGES = 100  # a diff's change list is cut here to keep the tool result small
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True)


class SignatureIn(BaseModel):
    """The signature block of an envelope."""

    model_config = ConfigDict(extra="forbid")
    kid: str = Field(description="Key id of the signing key in the registry's trust store.", max_length=128)
    alg: str = Field(description="`Ed25519` or `ES256`.", pattern="^(Ed25519|ES256)$")
    sig: str = Field(description="base64url (no padding) signature over the RFC 8785 canonical bytes of `action`.",
                     max_length=200)


class EnvelopeIn(BaseModel):
    """What `action-registry sign` writes: the document and its signature."""

    model_config = ConfigDict(extra="forbid")
    action: dict[str, Any] = Field(description="The action document: name, version, description, input_schema, "
                                               "output_schema, optional metadata.")
    signature: SignatureIn = Field(description="Signature over the canonical bytes of `action`.")


# --- results -----------------------------------------------------------------------------------------

def _call(tool: str, **arguments: Any) -> dict:
    return {"tool": tool, "arguments": {k: v for k, v in arguments.items() if v is not None}}


def _call_text(call: dict) -> str:
    return f"Call {call['tool']} with {json.dumps(call['arguments'])}"


def tool_error(code: str, message: str, suggestion: str, *, next_call: dict | None = None,
               details: dict | None = None) -> CallToolResult:
    """A failed call the model can correct: structured content plus the same JSON as text."""
    body: dict[str, Any] = {"error": code, "message": message, "suggestion": suggestion}
    if next_call:
        body["next_call"] = next_call
    if details:
        body["details"] = details
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(body, ensure_ascii=False))],
                          structured_content=body, is_error=True)


def _record_out(record: VersionRecord, versions: list[str] | None = None) -> dict:
    out = {"name": record.name, "version": record.version, "latest": record.latest,
           "content_hash": record.content_hash, "published_at": record.raw.get("published_at"),
           "signature": record.signature.as_dict(), "action": record.action,
           "next_call": _call("action_registry_verify", name=record.name, version=record.version)}
    if versions is not None:
        out["versions"] = versions
    if record.deprecation is not None:
        _mark_deprecated(out, record.name, record.version, record.deprecation.as_dict())
    return out


def _mark_deprecated(out: dict, name: str, version: str, deprecation: dict) -> None:
    """A deprecated version is still served (pinned callers need it), with the way forward on top."""
    successor = deprecation.get("successor")
    out["deprecated"] = True
    out["deprecation"] = deprecation
    out["warning"] = (f"{name}@{version} is deprecated: {deprecation.get('reason') or 'no reason given'}"
                      + (f"; use {successor} instead" if successor else ""))
    if successor:
        out["next_call"] = _call("action_registry_fetch", name=name, version=successor)


def _verification_out(result: LocalVerification) -> dict:
    out = result.as_dict()
    if result.verified:
        out["suggestion"] = "Verified locally: the document is exactly what the key's owner signed."
    else:
        out["suggestion"] = ("Do not run this action: it does not verify. Tell the user which check failed "
                             f"({result.reason}); fetch another version with action_registry_fetch if one verifies.")
    if result.deprecation:
        _mark_deprecated(out, result.name, result.version, result.deprecation)
    return out


# --- the server --------------------------------------------------------------------------------------

@dataclass
class RegistryConnection:
    """The REST client the tools share (created in the server's event loop)."""

    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 15.0
    _client: AsyncRegistryClient | None = field(default=None, repr=False)

    def client(self) -> AsyncRegistryClient:
        if self._client is None:
            self._client = AsyncRegistryClient(self.base_url, self.api_key, timeout=self.timeout,
                                               retry=RetryPolicy(max_retries=2))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class Tools:
    """The tool implementations; each returns a dict (structured content) or a ``tool_error`` result."""

    def __init__(self, connection: RegistryConnection) -> None:
        self.connection = connection

    @property
    def client(self) -> AsyncRegistryClient:
        return self.connection.client()

    async def guarded(self, fn: Callable[[], Awaitable[dict | CallToolResult]], *, name: str | None = None,
                      version: str | None = None, publishing: bool = False) -> dict | CallToolResult:
        try:
            return await fn()
        except RegistryError as exc:
            return await self._correct(exc, name=name, version=version, publishing=publishing)

    async def _correct(self, exc: RegistryError, *, name: str | None, version: str | None,
                       publishing: bool) -> CallToolResult:
        """Turn an error into a result naming the next call that would work."""
        details = exc.details or None
        if isinstance(exc, NetworkError):
            return tool_error(exc.code, exc.message, f"The registry at {self.client.base_url} is unreachable; "
                              f"check {ENV_URL} in this MCP server's environment, then retry.")
        if isinstance(exc, NotFoundError) and exc.code == "version_not_found" and name:
            return await self._unknown_version(exc, name, version)
        if exc.code == "invalid_version" and name and not publishing:
            return await self._unknown_version(exc, name, version)
        if isinstance(exc, NotFoundError) and exc.code == "action_not_found" and name:
            return await self._unknown_name(exc, name)
        if isinstance(exc, AuthError) and publishing:
            return tool_error(exc.code, exc.message, f"Publishing needs an API key allowed in this namespace: set "
                              f"{ENV_API_KEY} in this MCP server's environment (operators create keys with "
                              "`manage.py create_api_key`).", details=details)
        if isinstance(exc, ConflictError) and exc.code == "version_exists":
            return tool_error(exc.code, exc.message, "Published versions are immutable: bump `version` in the "
                              "action, sign it again (`action-registry sign`) and publish the new envelope.",
                              details=details)
        if exc.code in ("deprecated", "action_deprecated", "version_deprecated") and name:
            successor = (details or {}).get("successor")
            call = _call("action_registry_fetch", name=successor.get("name", name),
                         version=successor.get("version")) if isinstance(successor, dict) else None
            return tool_error(exc.code, exc.message, _call_text(call) if call else exc.suggestion, next_call=call,
                              details=details)
        return tool_error(exc.code, exc.message, exc.suggestion or "Check the arguments against the tool's schema.",
                          details=details)

    async def _unknown_version(self, exc: RegistryError, name: str, version: str | None) -> CallToolResult:
        versions = list((exc.details or {}).get("versions") or [])
        latest = None
        try:
            detail = await self.client.get_action(name)
            versions, latest = detail.version_numbers, detail.latest_version
        except NotFoundError as missing:
            return await self._unknown_name(missing, name)
        except RegistryError:
            latest = versions[-1] if versions else None
        if not versions:
            return tool_error("version_not_found", exc.message, f"{name} has no published versions yet.")
        call = _call("action_registry_fetch", name=name, version=latest or versions[-1])
        return tool_error("version_not_found", f"{name} has no version {version!r}" if version else exc.message,
                          f"{_call_text(call)}. Versions that exist: {', '.join(versions[-20:])}.",
                          next_call=call, details={"versions": versions, "latest": latest})

    async def _unknown_name(self, exc: RegistryError, name: str) -> CallToolResult:
        close = await self._close_names(name)
        if close:
            call = _call("action_registry_fetch", name=close[0])
            suggestion = f"{_call_text(call)}. Close matches: {', '.join(close)}."
        else:
            call = _call("action_registry_search", query=name.replace(".", " "))
            suggestion = f"No close match. {_call_text(call)} to search by words."
        return tool_error("action_not_found", f"no action named {name!r}", suggestion, next_call=call,
                          details={"close_matches": close})

    async def _close_names(self, name: str, n: int = 5) -> list[str]:
        """Candidates from the registry's own search (the name, its last segment, its namespace), ranked by
        spelling distance to what was asked for."""
        last = name.rpartition(".")[2]
        queries = [{"q": name}, {"q": last or name}, {"q": None, "namespace": name.split(".", 1)[0]}]
        pool: list[str] = []
        for query in queries:
            try:
                page = await self.client.search(query["q"], namespace=query.get("namespace"), limit=50)
            except RegistryError:
                continue
            pool.extend(i.name for i in page.items if i.name not in pool)
        ranked = sorted(pool, key=lambda c: -difflib.SequenceMatcher(None, name, c).ratio())
        return [c for c in ranked if difflib.SequenceMatcher(None, name, c).ratio() >= 0.5][:n]

    # -- the tools --
    async def discover(self, namespace: str | None, kid: str | None, offset: int, limit: int) -> dict | CallToolResult:
        async def run() -> dict:
            page = await self.client.search(None, namespace=namespace, kid=kid, offset=offset, limit=limit)
            return self._page(page, _call("action_registry_discover", namespace=namespace, kid=kid,
                                          offset=offset + len(page.items), limit=limit))
        return await self.guarded(run)

    async def search(self, query: str, namespace: str | None, limit: int) -> dict | CallToolResult:
        async def run() -> dict:
            page = await self.client.search(query, namespace=namespace, limit=limit)
            out = self._page(page, None)
            if not page.items:
                out["suggestion"] = ("No match. Try fewer or other words, or browse with action_registry_discover "
                                     "(optionally with a namespace).")
            return out
        return await self.guarded(run)

    @staticmethod
    def _page(page, next_call: dict | None) -> dict:
        out: dict[str, Any] = {
            "items": [{"name": i.name, "latest_version": i.latest_version, "description": i.description,
                       "kid": i.kid} for i in page.items],
            "total": page.total, "offset": page.offset, "limit": page.limit,
        }
        if page.items:
            out["next_call"] = _call("action_registry_fetch", name=page.items[0].name)
        if next_call and page.offset + len(page.items) < page.total:
            out["next_page"] = next_call
        return out

    async def fetch(self, name: str, version: str | None) -> dict | CallToolResult:
        async def run() -> dict:
            detail = await self.client.get_action(name)
            target = version or detail.latest_version
            if not target:
                raise NotFoundError(f"{name} has no released version", code="version_not_found", status=404,
                                    details={"versions": detail.version_numbers})
            record = await self.client.get_version(name, target)
            return _record_out(record, detail.version_numbers)
        return await self.guarded(run, name=name, version=version)

    async def verify(self, name: str, version: str | None) -> dict | CallToolResult:
        async def run() -> dict:
            result = await self.client.verify(name, version)
            if result.verified:
                # The transparency log too: the publish is logged, and the log never forked or rewrote history
                # as far as this machine has seen (the client's checkpoint state file).
                inc, failure = await asyncio.to_thread(
                    verification_log_check, self.client.base_url, name=result.name, version=result.version,
                    content_hash=result.content_hash)
                if failure is not None:
                    result = replace(result, verified=False, reason=failure.code, message=failure.message)
                else:
                    result.checks.append(inclusion_check_text(inc))
            return _verification_out(result)
        return await self.guarded(run, name=name, version=version)

    async def publish(self, envelope: EnvelopeIn) -> dict | CallToolResult:
        body = {"action": envelope.action, "signature": envelope.signature.model_dump()}
        name = envelope.action.get("name") if isinstance(envelope.action.get("name"), str) else None

        async def run() -> dict:
            parsed = parse_envelope(body)  # the registry's own document rules, checked before sending
            result = await self.client.publish(body)
            out = _record_out(result.record)
            out["created"] = result.created
            out["message"] = (f"published {parsed.name}@{parsed.version}" if result.created
                              else f"{parsed.name}@{parsed.version} was already published with identical bytes")
            return out
        return await self.guarded(run, name=name, publishing=True)


    async def _latest(self, name: str) -> tuple[str, list[str]]:
        detail = await self.client.get_action(name)
        if not detail.latest_version:
            raise NotFoundError(f"{name} has no released version", code="version_not_found", status=404,
                                details={"versions": detail.version_numbers})
        return detail.latest_version, detail.version_numbers

    async def deprecation(self, name: str, version: str | None) -> dict | CallToolResult:
        async def run() -> dict:
            target = version or (await self._latest(name))[0]
            state = await self.client.get_deprecation(name, target)
            out: dict[str, Any] = {"name": state.name, "version": state.version, "deprecated": state.deprecated,
                                   "history": state.history[-10:]}
            if state.deprecation is not None:
                _mark_deprecated(out, state.name, state.version, state.deprecation.as_dict())
            else:
                out["next_call"] = _call("action_registry_verify", name=state.name, version=state.version)
            return out
        return await self.guarded(run, name=name, version=version)

    async def diff(self, name: str, from_version: str, to_version: str | None) -> dict | CallToolResult:
        async def run() -> dict:
            target = to_version or (await self._latest(name))[0]
            diff = await self.client.diff(name, from_version, target)
            shown = diff.changes[:MAX_CHANGES]
            out = {"name": diff.name, "from": diff.from_version, "to": diff.to_version, "breaking": diff.breaking,
                   "implied_bump": diff.implied_bump, "compatibility": diff.compatibility,
                   "summary": diff.raw.get("summary"), "changes": shown}
            if len(diff.changes) > len(shown):
                out["changes_omitted"] = len(diff.changes) - len(shown)
            return out
        return await self.guarded(run, name=name, version=to_version or from_version)

    async def compatibility(self, name: str) -> dict | CallToolResult:
        async def run() -> dict:
            graph = await self.client.compatibility(name)
            nodes = [{k: node.get(k) for k in ("version", "status", "latest", "deprecated", "deprecation",
                                               "declared") if k in node} for node in graph.nodes]
            return {"name": graph.name, "mode": graph.mode, "latest_version": graph.latest_version,
                    "versions": nodes, "edges": graph.raw.get("edges", [])}
        return await self.guarded(run, name=name)


def build_server(connection: RegistryConnection | None = None) -> MCPServer:
    """The MCPServer with its tools registered (no transport started)."""
    connection = connection or RegistryConnection()
    tools = Tools(connection)

    @asynccontextmanager
    async def lifespan(app: MCPServer) -> AsyncIterator[None]:
        try:
            yield None
        finally:
            await connection.aclose()

    server = MCPServer(SERVER_NAME, title="Action Registry", version=__version__, instructions=INSTRUCTIONS,
                       lifespan=lifespan, log_level="WARNING")

    @server.tool(name="action_registry_discover", title="Browse actions", annotations=READ_ONLY)
    async def action_registry_discover(namespace: Namespace = None, kid: Kid = None, offset: Offset = 0,
                                       limit: Limit = 20) -> dict[str, Any]:
        """Browse the registry's actions by name, optionally under a namespace (dotted prefix such as `ssh`)
        or signed by one key. Returns each action's name, latest version, description and signing key id, plus
        `next_page` when more exist. Use action_registry_search instead when you have words to look for."""
        return await tools.discover(namespace, kid, offset, limit)  # type: ignore[return-value]

    @server.tool(name="action_registry_search", title="Search actions", annotations=READ_ONLY)
    async def action_registry_search(
        query: Annotated[str, Field(description="Words describing what the action does, or part of its name, "
                                                "e.g. `ssh command` or `deploy`.", min_length=1, max_length=200)],
        namespace: Namespace = None, limit: Limit = 10,
    ) -> dict[str, Any]:
        """Full-text search over action names and descriptions, best match first. Returns name, latest version,
        description and signing key id of each hit; then call action_registry_fetch with a name."""
        return await tools.search(query, namespace, limit)  # type: ignore[return-value]

    @server.tool(name="action_registry_fetch", title="Fetch an action", annotations=READ_ONLY)
    async def action_registry_fetch(name: Name, version: OptionalVersion = None) -> dict[str, Any]:
        """Fetch one action version: its document (description, input_schema, output_schema, metadata), signature,
        content hash and the list of all versions. Without `version`, the latest release. Before using the
        schema, call action_registry_verify with the same name and version."""
        return await tools.fetch(name, version)  # type: ignore[return-value]

    @server.tool(name="action_registry_verify", title="Verify an action locally", annotations=READ_ONLY)
    async def action_registry_verify(name: Name, version: OptionalVersion = None) -> dict[str, Any]:
        """Verify one action version here, not on the registry's word: re-parse the document, recompute its
        RFC 8785 canonical bytes and content hash, fetch the signing key from the trust store, check the key is
        active (or rotated) and covers the name, and check the signature. Returns `verified` (true/false),
        `reason` when false (e.g. content_hash_mismatch, signature_invalid, key_revoked) and the checks made."""
        return await tools.verify(name, version)  # type: ignore[return-value]

    @server.tool(name="action_registry_deprecation", title="Deprecation of a version", annotations=READ_ONLY)
    async def action_registry_deprecation(name: Name, version: OptionalVersion = None) -> dict[str, Any]:
        """Whether an action version is deprecated, why, which version replaces it (`successor`) and the history of
        deprecations. Without `version`, the latest release. When a successor exists, `next_call` fetches it."""
        return await tools.deprecation(name, version)  # type: ignore[return-value]

    @server.tool(name="action_registry_diff", title="Compare two versions", annotations=READ_ONLY)
    async def action_registry_diff(
        name: Name,
        from_version: Annotated[str, Field(description="The version you use now, e.g. `1.0.0`.", max_length=100)],
        to_version: OptionalVersion = None,
    ) -> dict[str, Any]:
        """What changed in the input and output schemas between two versions of an action, each change classified
        breaking or not, whether callers of `from_version` stay compatible, and the SemVer bump the changes imply.
        Without `to_version`, compares with the latest release. Use it before upgrading."""
        return await tools.diff(name, from_version, to_version)  # type: ignore[return-value]

    @server.tool(name="action_registry_compatibility", title="Compatibility of all versions", annotations=READ_ONLY)
    async def action_registry_compatibility(name: Name) -> dict[str, Any]:
        """Every version of an action with its status (latest, deprecated, ...), its successor when deprecated, and
        the compatibility declared or detected between versions under the namespace's compatibility mode. Use it to
        choose a version; then action_registry_diff for the details of one upgrade."""
        return await tools.compatibility(name)  # type: ignore[return-value]

    @server.tool(name="action_registry_publish", title="Publish a signed action",
                 annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                                             open_world_hint=True))
    async def action_registry_publish(
        envelope: Annotated[EnvelopeIn, Field(description="The signed envelope `action-registry sign` writes: "
                                                          "{action, signature}.")],
    ) -> dict[str, Any]:
        """Publish a signed action version (an immutable name@version). The envelope must already be signed by a
        key the registry trusts: this tool never signs. Needs ACTION_REGISTRY_API_KEY in the server's
        environment. Re-publishing identical bytes is harmless (`created: false`)."""
        return await tools.publish(envelope)  # type: ignore[return-value]

    return server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="action-registry-mcp",
                                     description="MCP server for an Action Registry (stdio by default).")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                        help="stdio (default) or streamable HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (with --transport http).")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (with --transport http).")
    parser.add_argument("--registry", metavar="URL", default=None, help=f"Registry URL (default: ${ENV_URL}).")
    parser.add_argument("--api-key", default=None, help=f"API key for publishing (default: ${ENV_API_KEY}).")
    parser.add_argument("--timeout", type=float, default=15.0, help="Per-request timeout in seconds.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # never chatter; stdout belongs to the protocol
    try:
        connection = RegistryConnection(args.registry, args.api_key, args.timeout)
        connection.client()  # validates the URL now, not at the first tool call
    except RegistryError as exc:
        print(f"action-registry-mcp: error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    server = build_server(connection)
    if args.transport == "http":
        server.run("streamable-http", host=args.host, port=args.port)
    else:
        server.run("stdio")
    return 0


__all__ = ["build_server", "main", "tool_error", "Tools", "RegistryConnection"]

if __name__ == "__main__":
    sys.exit(main())
