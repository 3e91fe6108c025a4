"""The transparency log: leaves and stored subtree hashes, made append-only by triggers."""

import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models

# The log is append-only: an UPDATE or DELETE would rewrite history that clients have already seen.
# (TRUNCATE stays possible for test-database teardown; clients detect any rewrite by consistency proofs.)
PG_FORWARD = [
    """CREATE FUNCTION core_refuse_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION USING ERRCODE = 'raise_exception',
           MESSAGE = TG_TABLE_NAME || ' rows are append-only: ' || TG_OP || ' refused';
       END $$""",
    """CREATE TRIGGER core_logleaf_append_only BEFORE UPDATE OR DELETE ON core_logleaf
       FOR EACH ROW EXECUTE FUNCTION core_refuse_log_change()""",
    """CREATE TRIGGER core_lognode_append_only BEFORE UPDATE OR DELETE ON core_lognode
       FOR EACH ROW EXECUTE FUNCTION core_refuse_log_change()""",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS core_lognode_append_only ON core_lognode",
    "DROP TRIGGER IF EXISTS core_logleaf_append_only ON core_logleaf",
    "DROP FUNCTION IF EXISTS core_refuse_log_change()",
]
SQLITE_FORWARD = [
    f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} rows are append-only: {op} refused'); END"""
    for table in ("core_logleaf", "core_lognode") for op in ("UPDATE", "DELETE")
]
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in ("core_logleaf", "core_lognode")
                   for op in ("update", "delete")]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)
    return run



class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='LogLeaf',
            fields=[
                ('index', models.BigIntegerField(help_text='0-based position; dense and sequential.', primary_key=True, serialize=False)),
                ('kind', models.CharField(db_index=True, help_text='e.g. action.published, key.revoked', max_length=64)),
                ('namespace', models.CharField(blank=True, db_index=True, help_text="Top-level namespace the entry concerns ('' for registry-wide).", max_length=200)),
                ('subject', models.CharField(blank=True, help_text='name@version, kid/alg, ...', max_length=300)),
                ('data', models.BinaryField(help_text='RFC 8785 canonical JSON of the entry, hashed exactly as stored.')),
                ('leaf_hash', models.BinaryField(help_text='SHA-256(0x00 || data).', max_length=32)),
                ('root_hash', models.BinaryField(help_text='Root of the tree of the first index + 1 leaves.', max_length=32)),
                ('integrated_at', models.DateTimeField(help_text='When the log took the entry in (also inside data).')),
            ],
            options={
                'ordering': ['index'],
                'indexes': [models.Index(fields=['leaf_hash'], name='core_logleaf_leaf_hash_idx'), models.Index(fields=['kind', 'subject'], name='core_logleaf_kind_subject_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('index__gte', 0)), name='logleaf_index_nonnegative'), models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('leaf_hash'), 32), name='logleaf_leaf_hash_32_bytes'), models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('root_hash'), 32), name='logleaf_root_hash_32_bytes')],
            },
        ),
        migrations.CreateModel(
            name='LogNode',
            fields=[
                ('pk', models.CompositePrimaryKey('level', 'index', blank=True, editable=False, primary_key=True, serialize=False)),
                ('level', models.PositiveSmallIntegerField()),
                ('index', models.BigIntegerField()),
                ('hash', models.BinaryField(max_length=32)),
            ],
            options={
                'ordering': ['level', 'index'],
                'constraints': [models.CheckConstraint(condition=models.Q(('index__gte', 0), ('level__lte', 63)), name='lognode_position_valid'), models.CheckConstraint(condition=django.db.models.lookups.Exact(django.db.models.functions.text.Length('hash'), 32), name='lognode_hash_32_bytes')],
            },
        ),
        migrations.RunPython(_run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
                             _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD})),
    ]
