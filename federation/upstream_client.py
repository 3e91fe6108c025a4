"""HTTP reads of an upstream registry: what changed, records byte for byte, key chains. Nothing here trusts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from action_registry.canonical import parse_json
from core.exceptions import DomainError

PAGE = 200
EVENTS_PAGE = 500
TIMEOUT = 20.0


class UpstreamUnavailable(DomainError):
    code = "upstream_unavailable"
    status = 502
    default_suggestion = "Check the upstream's URL and that it answers GET /v1/actions."


@dataclass(frozen=True)
class VersionRef:
    """One upstream version as its listing describes it (claims only; the record is what gets verified)."""

    name: str
    version: str
    content_hash: str


class UpstreamClient:
    def __init__(self, base_url: str, *, api_key: str = "", timeout: float = TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "action-registry-mirror/1"}
        if api_key:  # the upstream's event history needs one of its API keys
            headers["Authorization"] = f"Bearer {api_key}"
        self.http = httpx.Client(timeout=timeout, follow_redirects=False, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> UpstreamClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _get(self, path: str, params: dict | None = None, *, allow_missing: bool = False) -> httpx.Response | None:
        try:
            response = self.http.get(self.base_url + path, params=params)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{self.base_url}{path}: {type(exc).__name__}: {exc}") from None
        if allow_missing and response.status_code in (401, 403, 404):
            return None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"{self.base_url}{path} answered {response.status_code}")
        return response

    def _json(self, path: str, params: dict | None = None, *, allow_missing: bool = False):
        response = self._get(path, params, allow_missing=allow_missing)
        if response is None:
            return None
        try:
            return parse_json(response.content)
        except Exception as exc:  # noqa: BLE001 - any unparseable answer is the upstream's fault
            raise UpstreamUnavailable(f"{self.base_url}{path} answered something that is not JSON: {exc}") from None

    # --- what changed ---------------------------------------------------------------------------------

    def events_since(self, cursor: str, namespaces: list[str]) -> tuple[list[VersionRef], str] | None:
        """Published versions after ``cursor`` from the upstream's event history (GET /v1/events); None when
        it has none or will not show it to us (no API key for it), so the caller scans instead."""
        refs: list[VersionRef] = []
        since = int(cursor or 0)
        tops = sorted({ns.split(".", 1)[0] for ns in namespaces})
        while True:
            params = {"since": since, "limit": EVENTS_PAGE, "kind": ["action.published"],
                      **({"namespace": tops} if tops else {})}
            page = self._json("/v1/events", params, allow_missing=True)
            if page is None:
                return None
            for event in page["items"]:
                payload = event.get("payload") or {}
                if event.get("kind") == "action.published" and _wanted(payload.get("name", ""), namespaces):
                    refs.append(VersionRef(payload["name"], payload["version"], payload.get("content_hash", "")))
            since = int(page["next_since"])
            if not page.get("has_more") or not page["items"]:
                return refs, str(since)

    def scan(self, namespaces: list[str]) -> Iterator[VersionRef]:
        """Every version under the namespaces, by paging the catalogue (for upstreams without /v1/events)."""
        for namespace in namespaces or [None]:
            offset = 0
            while True:
                params = {"offset": offset, "limit": PAGE, **({"namespace": namespace} if namespace else {})}
                page = self._json("/v1/actions", params)
                for item in page["items"]:
                    detail = self._json(f"/v1/actions/{quote(item['name'], safe='')}")
                    for v in detail["versions"]:
                        yield VersionRef(detail["name"], v["version"], v["content_hash"])
                offset += len(page["items"])
                if not page["items"] or offset >= page["total"]:
                    break

    # --- records and keys -----------------------------------------------------------------------------

    def record(self, name: str, version: str) -> bytes:
        response = self._get(f"/v1/actions/{quote(name, safe='')}/versions/{quote(version, safe='')}")
        return response.content

    def key_chain(self, kid: str, alg: str) -> list[dict] | None:
        """The upstream's certificate chain for a key, leaf first (None when it does not serve chains)."""
        body = self._json(f"/v1/keys/{quote(kid, safe='')}/chain", {"alg": alg}, allow_missing=True)
        if body is None:
            return None
        if not isinstance(body, dict):
            return None
        return body.get("keys") or body.get("chain") or None  # GET /v1/keys/{kid}/chain answers {"keys": [...]}


def _wanted(name: str, namespaces: list[str]) -> bool:
    return not namespaces or any(name == ns or name.startswith(ns + ".") for ns in namespaces)
