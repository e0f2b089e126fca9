//! `PublicActivity`: one Durable Object (named `global`) holding the public
//! view of sandbox activity: running ledger totals across partners and the
//! newest anonymised entries (at most `LATEST_KEPT`). Each key's sandbox
//! feeds it from its outbox, in batches, after answering a credit or debit,
//! with nothing that names a partner or a user.

use partner_edge::public::{
    ActivityCommand, PublicStats, PublicTransaction, ReadLatest, ReadStats, RecordTransaction, RecordTransactions,
    LATEST_KEPT,
};
use partner_edge::sandbox::EntryKind;
use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::durable::{parse_message, reply_text, rpc_only, sql_int, to_json, SchemaOnce};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS latest (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        amount INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS seen (dedupe TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS totals (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        transactions INTEGER NOT NULL,
        credited INTEGER NOT NULL,
        debited INTEGER NOT NULL,
        last_at INTEGER
    )",
];

crate::durable::object_over_state! {
    fetch PublicActivity => PublicActivityState
}

/// What a `PublicActivity` holds.
pub struct PublicActivityState {
    sql: SqlStorage,
    schema: SchemaOnce,
}

crate::durable::commands_over_rpc!(PublicActivity);

impl PublicActivity {
    /// Runs one command message and answers with its reply, as JSON (the
    /// body of the object's `command` RPC method).
    async fn run(&self, message: &str) -> Result<String> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        let command: ActivityCommand = parse_message("PublicActivity", message)?;
        match command {
            ActivityCommand::RecordBatch(batch) => {
                reply_text::<RecordTransactions>(&self.record_batch(&batch.records)?)
            }
            ActivityCommand::Stats(_) => reply_text::<ReadStats>(&self.stats()?),
            ActivityCommand::Latest(query) => reply_text::<ReadLatest>(&self.latest(query.limit)?),
        }
    }
}

impl DurableObject for PublicActivity {
    fn new(state: State, _env: Env) -> Self {
        Self(std::rc::Rc::new(PublicActivityState { sql: state.storage().sql(), schema: SchemaOnce::default() }))
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("PublicActivity")
    }
}

impl PublicActivity {
    /// Counts each entry once: an entry handed over twice (a batch retried
    /// after a partial hand-over) carries the same digest and is ignored the
    /// second time. The feed's trims and the totals are written once per
    /// batch; answers how many entries were new.
    fn record_batch(&self, records: &[RecordTransaction]) -> Result<u32> {
        // Each statement takes the whole batch as one JSON text that SQLite
        // reads itself (`json_each`), rather than a bound value, or a
        // statement, per record.
        #[derive(Deserialize)]
        struct Seen {
            dedupe: String,
        }
        let digests: Vec<&str> = records.iter().map(|record| record.dedupe.as_str()).collect();
        let mut known: std::collections::HashSet<String> = self
            .sql
            .exec(
                "SELECT dedupe FROM seen WHERE dedupe IN (SELECT value FROM json_each(?))",
                vec![to_json(&digests)?.into()],
            )?
            .to_array::<Seen>()?
            .into_iter()
            .map(|row| row.dedupe)
            .collect();
        let fresh: Vec<&RecordTransaction> =
            records.iter().filter(|record| known.insert(record.dedupe.clone())).collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        let (mut credited, mut debited, mut last_at) = (0u64, 0u64, 0u64);
        for RecordTransaction { transaction, .. } in &fresh {
            match transaction.kind {
                EntryKind::Credit => credited += transaction.amount,
                EntryKind::Debit => debited += transaction.amount,
            }
            last_at = last_at.max(transaction.created_at);
        }
        let transactions: Vec<&PublicTransaction> = fresh.iter().map(|record| &record.transaction).collect();
        self.sql.exec(
            "INSERT INTO latest (kind, amount, reason, created_at)
             SELECT json_extract(value, '$.kind'), json_extract(value, '$.amount'),
                json_extract(value, '$.reason'), json_extract(value, '$.created_at')
             FROM json_each(?) ORDER BY key",
            vec![to_json(&transactions)?.into()],
        )?;
        // Each digest is kept with the batch's last number, which is all the
        // pruning below needs.
        let digests: Vec<&str> = fresh.iter().map(|record| record.dedupe.as_str()).collect();
        self.sql.exec(
            "INSERT INTO seen (dedupe, seq) SELECT value, (SELECT MAX(seq) FROM latest) FROM json_each(?)",
            vec![to_json(&digests)?.into()],
        )?;
        let new = u32::try_from(fresh.len()).unwrap_or(u32::MAX);
        self.sql
            .exec(&format!("DELETE FROM latest WHERE seq <= (SELECT MAX(seq) FROM latest) - {LATEST_KEPT}"), None)?;
        self.sql.exec(
            &format!("DELETE FROM seen WHERE seq <= (SELECT MAX(seq) FROM latest) - {}", LATEST_KEPT * 10),
            None,
        )?;
        self.sql.exec(
            "INSERT INTO totals (id, transactions, credited, debited, last_at) VALUES (1, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET transactions = transactions + excluded.transactions,
                credited = credited + excluded.credited, debited = debited + excluded.debited,
                last_at = MAX(COALESCE(last_at, 0), excluded.last_at)",
            vec![i64::from(new).into(), sql_int(credited)?, sql_int(debited)?, sql_int(last_at)?],
        )?;
        Ok(new)
    }

    fn stats(&self) -> Result<PublicStats> {
        #[derive(Deserialize)]
        struct Totals {
            transactions: i64,
            credited: i64,
            debited: i64,
            last_at: Option<i64>,
        }
        let totals = self
            .sql
            .exec("SELECT transactions, credited, debited, last_at FROM totals WHERE id = 1", None)?
            .to_array::<Totals>()?
            .into_iter()
            .next();
        Ok(totals.map_or_else(PublicStats::default, |t| PublicStats {
            partner_keys: 0,
            transactions: t.transactions.unsigned_abs(),
            credited_total: t.credited.unsigned_abs(),
            debited_total: t.debited.unsigned_abs(),
            last_transaction_at: t.last_at.map(i64::unsigned_abs),
        }))
    }

    fn latest(&self, limit: u32) -> Result<Vec<PublicTransaction>> {
        #[derive(Deserialize)]
        struct Row {
            seq: i64,
            kind: String,
            amount: i64,
            reason: String,
            created_at: i64,
        }
        let rows = self
            .sql
            .exec(
                "SELECT seq, kind, amount, reason, created_at FROM latest ORDER BY seq DESC LIMIT ?",
                vec![i64::from(limit).into()],
            )?
            .to_array::<Row>()?;
        rows.into_iter()
            .map(|row| {
                let kind = EntryKind::parse(&row.kind).ok_or_else(|| {
                    worker::Error::from(format!("PublicActivity: stored kind {:?} is unknown", row.kind))
                })?;
                Ok(PublicTransaction {
                    seq: row.seq.unsigned_abs(),
                    kind,
                    amount: row.amount.unsigned_abs(),
                    reason: row.reason,
                    created_at: row.created_at.unsigned_abs(),
                })
            })
            .collect()
    }
}
