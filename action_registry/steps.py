"""Composite actions: the strict shape of ``steps``, cycle detection and parallel stages (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .document import check_name, check_version
from .errors import DocumentError

STEPS_MAX = 100
STEP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
STEP_KEYS = {"id", "action", "after"}


@dataclass(frozen=True)
class Step:
    """One step: run ``name@version`` once every step in ``after`` has finished."""

    id: str
    name: str
    version: str
    after: tuple[str, ...]

    @property
    def action(self) -> str:
        return f"{self.name}@{self.version}"


def _invalid(message: str, **details: Any) -> DocumentError:
    return DocumentError(message, code="invalid_steps", details=details or None,
                         suggestion='Write steps as [{"id": "build", "action": "docker.build@1.0.0", '
                                    '"after": []}, ...] with unique ids and exact versions.')


def _parse_step(index: int, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise _invalid(f"steps[{index}] must be an object {{id, action, after}}", index=index)
    unknown = sorted(set(raw) - STEP_KEYS)
    if unknown:
        raise _invalid(f"steps[{index}] has unknown field(s): {', '.join(unknown)}", index=index)
    step_id, action, after = raw.get("id"), raw.get("action"), raw.get("after", [])
    if not isinstance(step_id, str) or not STEP_ID_RE.match(step_id):
        raise _invalid(f"steps[{index}].id must be 1-64 characters of [a-z0-9_-], starting with a letter or digit",
                       index=index)
    if not isinstance(action, str) or action.count("@") != 1:
        raise _invalid(f"steps[{index}].action must be name@version, e.g. docker.build@1.0.0", index=index)
    name, version = action.split("@")
    try:
        check_name(name)
        check_version(version)
    except DocumentError as exc:
        # Ranges are refused on purpose: a composite is signed, so what it runs must be fixed too.
        raise _invalid(f"steps[{index}].action {action[:120]!r}: {exc.message}; composites name exact versions",
                       index=index) from None
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise _invalid(f"steps[{index}].after must be a list of step ids", index=index)
    if len(set(after)) != len(after):
        raise _invalid(f"steps[{index}].after lists a step twice", index=index)
    if step_id in after:
        raise _invalid(f"step {step_id!r} cannot run after itself", index=index, cycle=[step_id, step_id])
    return Step(id=step_id, name=name, version=version, after=tuple(after))


def parse_steps(raw: Any) -> list[Step]:
    """Validate ``steps`` strictly and check the graph is acyclic; return the steps in document order."""
    if not isinstance(raw, list) or not raw:
        raise _invalid("steps must be a non-empty list of {id, action, after}")
    if len(raw) > STEPS_MAX:
        raise _invalid(f"a composite has at most {STEPS_MAX} steps; this one has {len(raw)}")
    steps = [_parse_step(i, s) for i, s in enumerate(raw)]
    ids = [s.id for s in steps]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise _invalid(f"step id(s) used twice: {', '.join(dupes)}", duplicates=dupes)
    known = set(ids)
    for step in steps:
        missing = [a for a in step.after if a not in known]
        if missing:
            raise _invalid(f"step {step.id!r} runs after unknown step(s): {', '.join(missing)}", step=step.id)
    stages(steps)  # raises steps_cycle
    return steps


def _find_cycle(steps: list[Step], remaining: set[str]) -> list[str]:
    """One cycle among ``remaining`` (each of which waits on another remaining step), as a closed path."""
    after = {s.id: [a for a in s.after if a in remaining] for s in steps if s.id in remaining}
    path, seen = [min(remaining)], set()
    while path[-1] not in seen:
        seen.add(path[-1])
        path.append(min(after[path[-1]]))
    start = path.index(path[-1])
    return list(reversed(path[start:]))


def stages(steps: list[Step]) -> list[list[str]]:
    """Kahn's algorithm, level by level: stage k holds the steps whose longest chain of predecessors has
    length k, so every step of a stage may run in parallel once the previous stages finished."""
    waiting = {s.id: set(s.after) for s in steps}
    done: set[str] = set()
    result: list[list[str]] = []
    while waiting:
        ready = sorted(i for i, deps in waiting.items() if deps <= done)
        if not ready:
            cycle = _find_cycle(steps, set(waiting))
            raise DocumentError(f"the steps form a cycle: {' -> '.join(cycle)}", code="steps_cycle",
                                details={"cycle": cycle},
                                suggestion="Remove one `after` edge of the cycle; steps must form a DAG.")
        result.append(ready)
        done.update(ready)
        for i in ready:
            del waiting[i]
    return result
