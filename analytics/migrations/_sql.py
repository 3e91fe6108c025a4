"""SQL shared by the analytics migrations (kept here so a later table rebuild can restore the triggers)."""

SQLITE_RUN_FORWARD = [
    """CREATE TRIGGER analytics_run_no_update BEFORE UPDATE ON analytics_run
       BEGIN SELECT RAISE(ABORT, 'analytics_run rows are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER analytics_run_no_delete BEFORE DELETE ON analytics_run
       BEGIN SELECT RAISE(ABORT, 'analytics_run rows are append-only: DELETE refused'); END""",
]
SQLITE_RUN_BACKWARD = ["DROP TRIGGER IF EXISTS analytics_run_no_update",
                       "DROP TRIGGER IF EXISTS analytics_run_no_delete"]
