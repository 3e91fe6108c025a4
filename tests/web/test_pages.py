"""The web pages, rendered by Django on real PostgreSQL: content, filters, errors and bounded queries."""

from __future__ import annotations

from django.utils import timezone

from governance import services
from governance.models import SigningKey
from governance.services import signing_key_revoke
from registry.lifecycle_services import version_deprecate
from tests.conftest import make_doc
from tests.web.conftest import certificate, new_signer


def html(response) -> str:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def test_catalog_lists_searches_and_filters(client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        page = html(client.get("/"))
    assert 'href="/actions/ssh.exec/"' in page and 'href="/actions/weather.forecast/"' in page
    assert '<label for="q">' in page and '<label for="namespace">' in page and '<label for="kid">' in page
    assert "/static/web/site.css" in page

    assert client.head("/").status_code == 200 and client.post("/").status_code == 405
    found = html(client.get("/", {"q": "weather"}))
    assert "weather.forecast" in found and "/actions/ssh.exec/" not in found

    only_ssh = html(client.get("/", {"namespace": "ssh"}))
    assert "/actions/ssh.exec/" in only_ssh and "/actions/weather.forecast/" not in only_ssh
    assert '<option value="ssh" selected>' in only_ssh

    assert "No action matches" in html(client.get("/", {"kid": "someone-else"}))
    assert "/actions/ssh.exec/" in html(client.get("/", {"kid": catalog.kid}))


def test_catalog_fragment_is_the_results_region_only(client, catalog):
    fragment = html(client.get("/fragments/catalog-results", {"q": "ssh"}))
    assert "<html" not in fragment and "<form" not in fragment
    assert "/actions/ssh.exec/" in fragment and "weather.forecast" not in fragment


def test_catalog_paginates_and_bad_page_numbers_are_harmless(client, api, trusted_signer):
    for i in range(30):
        assert api.publish(trusted_signer.sign(make_doc(f"bulk.a{i:02d}", "1.0.0"))).status_code == 201
    first = html(client.get("/"))
    assert "Showing 1–25 of 30 actions" in first and 'rel="next"' in first and "bulk.a24" in first
    second = html(client.get("/", {"page": "2"}))
    assert "Showing 26–30 of 30" in second and "bulk.a25" in second and "bulk.a24/" not in second
    assert 'rel="prev"' in second
    assert "Showing 1–25" in html(client.get("/", {"page": "nonsense"}))


def test_action_page_shows_schema_tables_verification_and_versions(client, catalog,
                                                                   django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        page = html(client.get("/actions/ssh.exec/"))
    # Inputs as a table, not raw JSON only: the latest version (2.0.0) requires port, with its bounds.
    assert "<caption>Input fields</caption>" in page
    assert "<code>port</code>" in page and "minimum: 1; maximum: 65535" in page
    assert "Host to reach." in page and "<strong>required</strong>" in page
    assert "✓ Verified" in page and f"<code>{catalog.kid}</code>" in page
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        assert f'href="/actions/ssh.exec/versions/{version}/"' in page
    assert page.index("/versions/2.0.0/") < page.index("/versions/1.0.0/")  # newest first
    assert "Deprecated" not in page


def test_action_page_queries_do_not_grow_with_versions(client, api, trusted_signer, django_assert_max_num_queries):
    for patch in range(12):
        assert api.publish(trusted_signer.sign(make_doc("ssh.exec", f"1.0.{patch}"))).status_code == 201
    with django_assert_max_num_queries(8):
        html(client.get("/actions/ssh.exec/"))


def test_deprecation_banner_links_to_the_successor(client, catalog, django_user_model):
    reviewer = django_user_model.objects.create_user("governor")
    version_deprecate(name="ssh.exec", version="2.0.0", reason="Port handling is broken.", successor="1.1.0",
                      user=reviewer)
    page = html(client.get("/actions/ssh.exec/"))
    assert "Port handling is broken." in page
    assert 'Use <a href="/actions/ssh.exec/versions/1.1.0/">ssh.exec 1.1.0</a> instead.' in page
    assert "Port handling is broken." in html(client.get("/actions/ssh.exec/versions/2.0.0/"))


def test_version_page_has_document_hash_chain_and_commands(client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):
        page = html(client.get("/actions/ssh.exec/versions/1.1.0/"))
    record = client.get("/v1/actions/ssh.exec/versions/1.1.0").json()
    assert record["content_hash"] in page and record["signature"]["sig"] in page
    assert "action-registry fetch ssh.exec 1.1.0" in page and "action-registry verify ssh.exec 1.1.0" in page
    assert 'action_registry_verify {&quot;name&quot;: &quot;ssh.exec&quot;, &quot;version&quot;: &quot;1.1.0&quot;}' in page
    assert 'data-copy="action-registry verify ssh.exec 1.1.0"' in page
    assert "&quot;timeout&quot;" in page  # the signed document itself
    assert "✓ Verified" in page


def test_revoked_key_shows_as_not_verified(client, catalog):
    signing_key_revoke(key=catalog.model, actor="test", reason="laptop stolen")
    page = html(client.get("/actions/ssh.exec/versions/1.0.0/"))
    assert "✗ Not verified" in page and "key_revoked" in page
    trust = html(client.get("/trust/"))
    assert "laptop stolen" in trust and "Revoked" in trust


def test_diff_page_highlights_breaking_changes_and_bump(client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        page = html(client.get("/actions/ssh.exec/diff/", {"from": "1.1.0", "to": "2.0.0"}))
    assert '<tr class="breaking">' in page and "<code>input/properties/port</code>" in page
    assert "required input &#x27;port&#x27; was added" in page
    assert '<strong id="implied-bump">major</strong>' in page
    assert '<option value="1.1.0" selected>' in page

    safe = html(client.get("/actions/ssh.exec/diff/", {"from": "1.0.0", "to": "1.1.0"}))
    assert '<strong id="implied-bump">minor</strong>' in safe and '<tr class="breaking">' not in safe
    # Defaults: the latest against the version before it.
    assert '<strong id="implied-bump">major</strong>' in html(client.get("/actions/ssh.exec/diff/"))


def test_graph_page_lists_versions_and_edges(client, catalog, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        page = html(client.get("/actions/ssh.exec/graph/"))
    assert '<span class="badge ok">latest</span>' in page
    assert "?from=1.1.0&amp;to=2.0.0" in page and '<span class="badge bad">breaks</span>' in page
    picture = page[page.index('<figure class="graph-picture">'):page.index("</figure>")]
    assert "<svg" in picture and "<?xml" not in page and "Compatibility graph of ssh.exec" in picture


def test_trust_page_shows_the_hierarchy(client, api, catalog, django_user_model, django_assert_max_num_queries):
    from django.contrib.auth.models import Group

    reviewer = django_user_model.objects.create_user("rita", is_staff=True)
    reviewer.groups.add(Group.objects.get(name="security reviewers"))
    org, leaf = new_signer("acme-org-1"), new_signer("acme-ci-1")
    assert api.post("/v1/keys", certificate(catalog, org, ["acme"])).status_code == 202
    services.delegation_review(key=SigningKey.objects.get(kid="acme-org-1"), reviewer=reviewer, approve=True,
                               reason="acme's org key")
    assert api.post("/v1/keys", certificate(org, leaf, ["acme.ci"])).status_code == 202
    with django_assert_max_num_queries(2):
        page = html(client.get("/trust/"))
    root_at, org_at, leaf_at = (page.index(f'id="key-{kid}-Ed25519"') for kid in (catalog.kid, org.kid, leaf.kid))
    assert root_at < org_at < leaf_at
    tree = page[page.index('<ul class="tree"'):]
    assert tree.count("<ul>") == 2  # two nested levels below the root
    assert "<code>acme.ci</code>" in page and "Pending approval" in page and "Waiting for a security" in page
    assert "Approved by rita" in page and "acme&#x27;s org key" in page
    assert "every namespace" in page

    # A version signed through the three-level chain shows the whole chain on its page.
    services.delegation_review(key=SigningKey.objects.get(kid="acme-ci-1"), reviewer=reviewer, approve=True,
                               reason="ci bot")
    assert api.publish(leaf.sign(make_doc("acme.ci.build", "1.0.0"))).status_code == 201
    version = html(client.get("/actions/acme.ci.build/versions/1.0.0/"))
    chain = version[version.index('<ol class="chain"'):]
    assert "✓ Verified" in version
    assert chain.index("acme-ci-1") < chain.index("acme-org-1") < chain.index(catalog.kid)


def test_unknown_action_and_version_are_404_pages_with_a_suggestion(client, catalog):
    response = client.get("/actions/ssh.exe/")
    assert response.status_code == 404 and b"Did you mean: ssh.exec" in response.content
    response = client.get("/actions/ssh.exec/versions/9.9.9/")
    assert response.status_code == 404 and b"Versions of ssh.exec" in response.content
    response = client.get("/actions/ssh.exec/versions/not-semver/")
    assert response.status_code == 422 and b"not strict SemVer" in response.content


def test_analytics_overview_and_action_pages(client, catalog, django_assert_max_num_queries):
    from analytics.choices import SubjectType
    from analytics.models import ReputationScore, Run
    from registry.models import ActionVersion

    now = timezone.now()
    v1, v2 = (ActionVersion.objects.get(action__name="ssh.exec", version=v) for v in ("1.1.0", "2.0.0"))
    Run.objects.bulk_create(
        [Run(action_version=v1, action_name="ssh.exec", version="1.1.0", namespace="ssh", agent="a1",
             constraint_snapshot="sha256:" + "0" * 64, outcome="success", duration_ms=40) for _ in range(9)]
        + [Run(action_version=v1, action_name="ssh.exec", version="1.1.0", namespace="ssh", agent="a1",
               constraint_snapshot="sha256:" + "0" * 64, outcome="failure", duration_ms=80)]
        + [Run(action_version=v2, action_name="ssh.exec", version="2.0.0", namespace="ssh", agent="a1",
               constraint_snapshot="sha256:" + "0" * 64, outcome="error", error_code="timeout", duration_ms=10)
           for _ in range(2)])
    ReputationScore.objects.create(subject_type=SubjectType.ACTION, subject="ssh.exec", namespace="ssh", score=87.0,
                                   inputs={}, formula="v1", computed_at=now)
    with django_assert_max_num_queries(8):
        page = html(client.get("/analytics/"))
    assert 'role="img"' in page and "Consumption per day" in page and "No open anomaly." in page
    assert '<a href="/analytics/actions/ssh.exec/">ssh.exec</a></td><td>87</td>' in page
    assert '<a href="/?namespace=ssh">ssh</a></td><td>1</td>' in page

    with django_assert_max_num_queries(8):
        detail = html(client.get("/analytics/actions/ssh.exec/"))
    assert "Success rate by version" in detail
    rows = detail[detail.index("<tbody>"):detail.index("</tbody>")]
    assert rows.index("2.0.0") < rows.index("1.1.0")  # newest first
    assert "<td>10</td>\n    <td>90%</td>" in rows and "<td>2</td>\n    <td>0%</td>" in rows
    assert 'href="/analytics/actions/ssh.exec/"' in html(client.get("/actions/ssh.exec/"))
    assert client.get("/analytics/actions/nope.nothing/").status_code == 404


def test_admin_review_page_shows_the_chain_and_keeps_the_submitter_out(client, catalog, django_user_model):
    from django.contrib.auth.models import Group

    reviewers = Group.objects.get(name="security reviewers")
    rita, sam = (django_user_model.objects.create_user(n, is_staff=True) for n in ("rita", "sam"))
    rita.groups.add(reviewers)
    sam.groups.add(reviewers)
    org = new_signer("acme-org-1")
    pending = services.delegation_submit(envelope=certificate(catalog, org, ["acme"]), actor="user:sam", user=sam)
    url = f"/admin/governance/delegationrequest/{pending.pk}/change/"

    client.force_login(rita)
    page = html(client.get(url))
    assert "<code>acme-org-1</code> <small>(this request, org)</small> → <code>test-root-1</code>" in page
    assert "sam</strong> submitted this request" in page and "Approve delegation" in page

    client.force_login(sam)  # a reviewer too, but the submitter: no buttons, a reason why
    page = html(client.get(url))
    assert "You submitted this request" in page and "Approve delegation" not in page
