"""REST API of federation: POST /v1/sync (edge pushes) and GET /v1/snapshot (signed TUF bundles)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Field as F
from ninja import Query, Router, Schema

from core.schemas import errors
from federation import services, snapshots
from federation.choices import SyncItemStatus
from federation.schemas import SyncIn, SyncOut
from governance.auth import ApiKeyAuth

router = Router(tags=["federation"])


@router.post(
    "/sync", auth=ApiKeyAuth(), response={200: SyncOut, **errors(401, 413, 422)}, operation_id="syncPush",
    summary="Push actions published at the edge",
    description="Each envelope goes through the ordinary publish checks (signature, chain to a trusted root, "
                "namespace scope of the API key and the signing key) on its own, and is reported as `accepted`, "
                "`identical` (already here with the same bytes), `conflict` (the version exists here with other "
                "bytes: nothing is merged, the local bytes stay, an `anomaly.sync_conflict` event is raised) or "
                "`refused` (with the publish error code). The answer is 200 whatever the items' fate.",
)
def sync_push(request: HttpRequest, payload: SyncIn):
    items = services.sync_push(items=request.parsed_body["items"], api_key=request.auth)
    summary = {status.value: sum(1 for i in items if i["status"] == status.value) for status in SyncItemStatus}
    return {"items": items, "summary": summary}


class SnapshotParams(Schema):
    namespace: list[str] = F([], description="Namespaces to include (repeat); none means every namespace.",
                             examples=[["ssh"]])


@router.get(
    "/snapshot", response={200: bytes, **errors(422, 503)}, operation_id="getSnapshot",
    summary="A signed offline bundle (TUF repository)",
    description="A POSIX tar holding a TUF repository: `metadata/` (root signed by the offline root keys; "
                "targets, per-namespace delegated targets, snapshot and timestamp signed by the registry's online "
                "key) and `targets/` (each action version's canonical bytes, plus the trust store, revocations "
                "and policies). Verify it offline with `action-registry snapshot verify BUNDLE --root KEY`.",
    openapi_extra={"responses": {"200": {"content": {"application/x-tar": {"schema": {
        "type": "string", "format": "binary"}}}}}},
)
def get_snapshot(request: HttpRequest, params: Query[SnapshotParams]):
    bundle = snapshots.snapshot_export(namespaces=params.namespace)
    response = HttpResponse(bundle.data, content_type="application/x-tar")
    response["Content-Disposition"] = f'attachment; filename="snapshot-{bundle.version}.tar"'
    response["X-Snapshot-Version"] = str(bundle.version)
    return response
