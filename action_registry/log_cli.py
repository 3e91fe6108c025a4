"""`action-registry log ...`: watch the registry's transparency log for entries touching your namespaces."""

from __future__ import annotations

from .cli import EXIT_OK, EXIT_VERIFY_FAILED, Context, arg, command
from .logclient import LogClient, LogError, log_monitor


def _base_url(ctx: Context) -> str | None:
    return getattr(ctx.args, "registry", None)


@command("log monitor", help="Report every log entry touching the given namespaces since the last run.",
         description="Reads the entries added since the last run (the first run reads the whole log), checks each "
                     "against its leaf hash and the signed checkpoint, checks the checkpoint is consistent with "
                     "every one seen before, and prints the entries that concern the namespaces: a publish you "
                     "did not make is the alarm. Exit 1 when the log is inconsistent (a fork or rewrite).",
         arguments=[arg("--namespace", action="append", required=True, metavar="PREFIX",
                        help="Namespace prefix your team owns (repeat)."),
                    arg("--log-key", metavar="VKEY", help="The log's note verifier key, pinned out of band "
                                                          "(default: pinned on first use).")])
def _monitor(ctx: Context) -> int:
    try:
        with LogClient(_base_url(ctx)) as log:
            report = log_monitor(log, namespaces=ctx.args.namespace, verifier_key=ctx.args.log_key)
    except LogError as exc:
        ctx.note(f"action-registry: LOG CHECK FAILED: {exc.code}: {exc.message}")
        return EXIT_VERIFY_FAILED
    if ctx.json:
        ctx.print_json({"start": report.start, "end": report.end, "checkpoint_size": report.checkpoint.size,
                        "matches": report.matches})
        return EXIT_OK
    for entry in report.matches:
        subject = (f"{entry.get('name')}@{entry.get('version')}" if entry.get("name")
                   else entry.get("kid") or entry.get("prefix") or "")
        ctx.print(f"{entry.get('index', '')}\t{entry.get('kind')}\t{entry.get('integrated_at', '')}\t{subject}")
    ctx.note(f"read entries {report.start}..{report.end} of a log of {report.checkpoint.size}: "
             f"{len(report.matches)} touch {', '.join(ctx.args.namespace)}")
    return EXIT_OK
