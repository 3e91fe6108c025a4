"""Stateful fuzzing: schemathesis chains operations through the OpenAPI links (config/openapi.py LINKS)
against the live server, and every answer along a chain must be documented, match its schema and not be a 5xx.

Random bodies never carry a valid signature, so each scenario starts from a real publish (a fresh version
signed by the registry's trusted seed key, under the `fuzz` namespace the fuzzing API key is limited to);
from there schemathesis follows links at random, mixing in generated and negative inputs. The test then
asserts that the links were actually followed: a stateful run that never leaves its roots cannot fail.

Bounded for CI (25 scenarios: 13 s at load average 8 on 2 cores); FUZZ_EXAMPLES (scenarios) and FUZZ_STEPS
(steps per scenario) scale it up for the nightly run (docs/testing.md, "Fuzzing").
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import Bundle, initialize
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.stateful.state_machine import StepInput

from action_registry.document import sign_document
from tests.api.test_openapi import SCHEMATHESIS_CHECKS
from tests.live_registry import SEED_KID, live_registry_fixture, make_doc  # noqa: F401

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ_STEPS = int(os.environ.get("FUZZ_STEPS", "8"))
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"  # nightly: new inputs every night instead of CI's fixed ones

# Only the links we declare (no inferred ones), and the same checks as the stateless run in test_openapi.py.
CONFIG = SCHEMATHESIS_CHECKS + """
[phases.stateful.inference]
algorithms = []
"""

# Links each run must follow (the link's value applied; answers of any status are checked): publish's own
# chain. Values carried by links must be real, so most of them must answer 200, and so must a chain from
# the seeded data (discovery, the key list, the log).
MUST_FOLLOW = {
    ("publishAction", "GetVersion"), ("publishAction", "VerifyVersion"), ("publishAction", "GetByHash"),
    ("publishAction", "GetAction"), ("publishAction", "GetInclusionProof"),
}
MUST_ANSWER_200 = 3  # of MUST_FOLLOW
FROM_SEEDED_DATA = {
    ("discoverActions", "GetFirstAction"), ("listKeys", "GetFirstKey"), ("getAction", "GetLatestVersion"),
    ("getActionVersion", "GetSigningKey"), ("getLogEntries", "GetFirstEntryInclusionProof"),
}


@pytest.mark.slow
def test_stateful_links_are_followed_and_every_answer_conforms(live_registry):
    spec = httpx.get(f"{live_registry.url}/v1/openapi.json", timeout=30).raise_for_status().json()
    schema = schemathesis.openapi.from_dict(spec, config=SchemathesisConfig.from_str(CONFIG))
    op_ids = {op.label: op.definition.raw.get("operationId") for op in
              (r.ok() for r in schema.get_all_operations())}
    publish = schema["/v1/actions"]["POST"]
    versions = itertools.count(int(time.time()) % 100_000 * 1000)
    calls: Counter[str] = Counter()
    followed: Counter[tuple[str, str, int]] = Counter()  # (source operationId, link, status)
    auth = {"Authorization": f"Bearer {live_registry.fuzz_api_key}"}

    class Workflow(schema.as_state_machine()):
        @initialize(target=Bundle("published"))
        def publish_signed(self):
            """A real publish to start from; its 201 lands in publishAction's link bundle."""
            version = f"1.0.{next(versions)}"
            doc = make_doc("fuzz.stateful", version, f"Stateful fuzzing seed {version}.")  # no other test's words
            case = publish.Case(body=sign_document(doc, live_registry.seed_key, SEED_KID),
                                media_type="application/json")
            self.recorder.record_case(case=case)
            step = StepInput.initial(case)
            self.control.record_step(step, self.recorder)
            output = self.step(step)
            assert output.response.status_code == 201, output.response.text
            return output

        def get_call_kwargs(self, case):
            return {"base_url": live_registry.url, "headers": auth, "timeout": 20}

        def step(self, input):  # every rule's call goes through here (schemathesis calls the base _step)
            output = super().step(input)
            calls[op_ids[input.case.operation.label]] += 1
            if input.transition is not None and input.is_applied:
                source = self.recorder.cases[input.transition.parent_id].value.operation.label
                link = input.transition.id.split("] ", 1)[1].split(" -> ", 1)[0]  # "A -> [201] Link -> B"
                followed[(op_ids[source], link, output.response.status_code)] += 1
            return output

    started = time.monotonic()
    Workflow.run(settings=settings(max_examples=FUZZ_EXAMPLES, stateful_step_count=FUZZ_STEPS, deadline=None,
                                   phases=[Phase.generate], database=None, derandomize=not FUZZ_RANDOM,
                                   suppress_health_check=list(HealthCheck)))
    elapsed = time.monotonic() - started
    done = {(source, link) for source, link, _status in followed}
    ok = {(source, link) for source, link, status in followed if status == 200}
    report = f"calls: {dict(calls)}\nfollowed (source, link, status): {dict(followed)}\n{elapsed:.1f} s"
    assert calls["publishAction"] >= FUZZ_EXAMPLES, report
    assert MUST_FOLLOW <= done, f"never followed: {MUST_FOLLOW - done}\n{report}"
    assert len(MUST_FOLLOW & ok) >= MUST_ANSWER_200, report
    assert ok & FROM_SEEDED_DATA, report
    print(report)
