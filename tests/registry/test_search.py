"""Discovery: ranked full-text search, partial names, filters and stable pagination."""

from __future__ import annotations

from tests.conftest import make_doc


def publish_many(api, signer, docs):
    for doc in docs:
        assert api.publish(signer.sign(doc)).status_code == 201


def names(resp):
    return [item["name"] for item in resp.json()["items"]]


def test_search_ranks_ssh_exec(api, trusted_signer, make_signer):
    other = make_signer("files-key")
    publish_many(api, trusted_signer, [
        make_doc("ssh.exec", description="Run a command on a remote host over SSH."),
        make_doc("ssh.copy", description="Copy files to a remote host with scp."),
        make_doc("docker.deploy", description="Deploy a container image; mentions ssh once."),
    ])
    publish_many(api, other, [make_doc("files.move", description="Move a file between directories.")])
    resp = api.get("/v1/actions", q="ssh")
    assert resp.status_code == 200
    got = names(resp)
    assert set(got[:2]) == {"ssh.copy", "ssh.exec"}
    assert "docker.deploy" in got and "files.move" not in got
    # A word of the description finds it, stemmed.
    assert names(api.get("/v1/actions", q="commands"))[0] == "ssh.exec"
    assert names(api.get("/v1/actions", q="ssh.exec"))[0] == "ssh.exec"
    # Partial names match too.
    assert "ssh.exec" in names(api.get("/v1/actions", q="exe"))
    assert names(api.get("/v1/actions", kid="files-key")) == ["files.move"]
    assert names(api.get("/v1/actions", namespace="ssh")) == ["ssh.copy", "ssh.exec"]
    assert names(api.get("/v1/actions", q="host", namespace="ssh")) == ["ssh.copy", "ssh.exec"]
    assert api.get("/v1/actions", q="zzzzqqq").json() == {"items": [], "total": 0, "offset": 0, "limit": 50}


def test_item_shape(api, trusted_signer):
    publish_many(api, trusted_signer, [make_doc(), make_doc(version="1.1.0", description="newer words")])
    item = api.get("/v1/actions").json()["items"][0]
    assert item["name"] == "ssh.exec"
    assert item["latest_version"] == "1.1.0"
    assert item["description"] == "newer words"
    assert item["kid"] == "test-root-1"


def test_pagination_is_stable_and_complete(api, trusted_signer, django_assert_max_num_queries):
    publish_many(api, trusted_signer, [make_doc(f"net.tool{i:02d}", description="network tool") for i in range(23)])
    for query in ({}, {"q": "network"}):
        seen = []
        for offset in range(0, 30, 7):
            with django_assert_max_num_queries(2):
                page = api.get("/v1/actions", offset=offset, limit=7, **query).json()
            assert page["total"] == 23
            seen += [i["name"] for i in page["items"]]
        assert len(seen) == 23 == len(set(seen))
        again = [i["name"] for i in api.get("/v1/actions", limit=200, **query).json()["items"]]
        assert seen == again


def test_limits_are_validated(api):
    resp = api.get("/v1/actions", limit=201)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_request"
    assert api.get("/v1/actions", offset=-1).status_code == 422


def bulk_actions(trusted_signer, api, names_and_descriptions):
    """Many searchable actions in one INSERT (each points at one published version): publishing hundreds of
    documents one by one would take the test seconds, and search reads only the action rows."""
    from registry.models import Action

    publish_many(api, trusted_signer, [make_doc("seed.action", description="seed")])
    seed = Action.objects.get(name="seed.action")
    Action.objects.bulk_create([Action(name=name, namespace=name.split(".")[0], description=description,
                                       kid=seed.kid, latest_version_id=seed.latest_version_id)
                                for name, description in names_and_descriptions])


def test_common_and_stopword_queries_rank_a_bounded_set(api, trusted_signer, django_assert_max_num_queries):
    from registry.search import SEARCH_CANDIDATES

    # 450 descriptions share "the" (an English stopword) and "data"; ten names contain "data"; one is "data.get".
    rows = [(f"bulk.item{i:03d}", f"Fetch the data of item {i} from the store.") for i in range(440)]
    rows += [(f"bulk.data_export{i}", "Export the records of a table.") for i in range(9)]
    rows += [("data.get", "Read the records of a table.")]
    bulk_actions(trusted_signer, api, rows)
    bound = 2 * SEARCH_CANDIDATES + 1  # full-text candidates + partial-name candidates + the exact name
    with django_assert_max_num_queries(2):
        page = api.get("/v1/actions", q="data", limit=20).json()
    assert len(page["items"]) == 20 and page["total"] <= bound < 450
    got = [i["name"] for i in page["items"]]
    # Names that contain the word first (each also matches through its name's words), then descriptions.
    assert set(got[:10]) == {"data.get"} | {f"bulk.data_export{i}" for i in range(9)}
    assert all(name.startswith("bulk.item") for name in got[10:])
    assert names(api.get("/v1/actions", q="data.get"))[0] == "data.get"
    # Within a namespace (its rows read through the name index), the same order.
    got = names(api.get("/v1/actions", q="data", namespace="bulk", limit=12))
    assert set(got[:9]) == {f"bulk.data_export{i}" for i in range(9)} and got[9].startswith("bulk.item")
    # A stopword alone ("the" is no English lexeme, but the "simple" configuration keeps it) still finds rows.
    with django_assert_max_num_queries(2):
        page = api.get("/v1/actions", q="the", limit=20).json()
    assert len(page["items"]) == 20 and 20 <= page["total"] <= bound
    # Only punctuation or only short garbage: nothing, quickly.
    assert api.get("/v1/actions", q="!!!").json()["total"] == 0
    assert api.get("/v1/actions", q="qz").json()["total"] == 0
    # Pages of a common word neither repeat nor skip a candidate.
    seen = []
    for offset in range(0, page["total"], 100):
        seen += names(api.get("/v1/actions", q="the", offset=offset, limit=100))
    assert len(seen) == page["total"] == len(set(seen))


def test_the_page_is_rendered_byte_for_byte_as_ninja_renders_its_schema(api, trusted_signer):
    """The search page skips ninja's response validation (its cost was three times the search's own Python):
    the bytes must still be those ninja renders for ActionPageOut, with every kind of text a description has."""
    import json

    from ninja.responses import NinjaJSONEncoder

    from registry.schemas import ActionPageOut
    from registry.search import action_search

    descriptions = ["Run a command over SSH.", "é \u2028 \U0001f600 \"quoted\" <b>tag</b> \\ back\\slash", "日本語の説明"]
    for i, text in enumerate(descriptions):
        assert api.publish(trusted_signer.sign(make_doc(f"ssh.tool{i}", description=text))).status_code == 201
    for params in ({"q": "ssh"}, {"q": "tool"}, {"namespace": "ssh", "limit": 2, "offset": 1}, {}):
        resp = api.get("/v1/actions", **params)
        assert resp.status_code == 200 and resp["Content-Type"] == "application/json; charset=utf-8"
        page = action_search(q=params.get("q"), namespace=params.get("namespace"), offset=params.get("offset", 0),
                             limit=params.get("limit", 50))
        expected = json.dumps(ActionPageOut.model_validate(
            {"items": page.items, "total": page.total, "offset": page.offset, "limit": page.limit}).model_dump(),
            cls=NinjaJSONEncoder)
        assert resp.content == expected.encode(), params
        assert resp.json()["items"], params


def test_search_indexes_keep_a_short_pending_list(api, trusted_signer):
    """Every search reads a GIN index's whole pending list: both keep it at 64 kB (registry/migrations/0009), and
    publishes past that move it into the index instead of letting it grow towards the server's 4 MB."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reloptions FROM pg_class WHERE relname IN "
                       "('registry_action_search_gin', 'registry_action_name_trgm') ORDER BY relname")
        assert cursor.fetchall() == [("registry_action_name_trgm", ["gin_pending_list_limit=64"]),
                                     ("registry_action_search_gin", ["gin_pending_list_limit=64"])]
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        for i in range(120):  # about 130 kB of new index entries: twice the limit
            doc = make_doc(f"pending.tool{i:03d}",
                           description=" ".join(f"word{i}x{j}" for j in range(40)) + " pending list filler")
            assert api.publish(trusted_signer.sign(doc)).status_code == 201
        for index in ("registry_action_search_gin", "registry_action_name_trgm"):
            cursor.execute("SELECT pending_pages FROM pgstatginindex(%s)", [index])
            assert cursor.fetchone()[0] <= 10, index  # 64 kB = 8 pages (plus the one being filled)
