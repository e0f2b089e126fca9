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
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::durable::{reply, serve, sql_int, SchemaOnce};

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

#[durable_object]
pub struct PublicActivity {
    sql: SqlStorage,
    schema: SchemaOnce,
}

impl DurableObject for PublicActivity {
    fn new(state: State, _env: Env) -> Self {
        Self { sql: state.storage().sql(), schema: SchemaOnce::default() }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        serve(req, "PublicActivity", |command| async move {
            match command {
                ActivityCommand::RecordBatch(batch) => {
                    let mut new = 0u32;
                    for record in &batch.records {
                        new += u32::from(self.record(record)?);
                    }
                    reply::<RecordTransactions>(&new)
                }
                ActivityCommand::Stats(_) => reply::<ReadStats>(&self.stats()?),
                ActivityCommand::Latest(query) => reply::<ReadLatest>(&self.latest(query.limit)?),
            }
        })
        .await
    }
}

impl PublicActivity {
    /// Counts an entry once: an entry answered twice (a retried mutation)
    /// carries the same digest and is ignored the second time.
    fn record(&self, record: &RecordTransaction) -> Result<bool> {
        #[derive(Deserialize)]
        struct Seen {
            #[allow(dead_code)]
            seq: i64,
        }
        let known = !self
            .sql
            .exec("SELECT seq FROM seen WHERE dedupe = ?", vec![record.dedupe.as_str().into()])?
            .to_array::<Seen>()?
            .is_empty();
        if known {
            return Ok(false);
        }
        let transaction = &record.transaction;
        self.sql.exec(
            "INSERT INTO latest (kind, amount, reason, created_at) VALUES (?, ?, ?, ?)",
            vec![
                transaction.kind.as_str().into(),
                sql_int(transaction.amount)?,
                transaction.reason.as_str().into(),
                sql_int(transaction.created_at)?,
            ],
        )?;
        self.sql.exec(
            "INSERT INTO seen (dedupe, seq) VALUES (?, (SELECT MAX(seq) FROM latest))",
            vec![record.dedupe.as_str().into()],
        )?;
        self.sql
            .exec(&format!("DELETE FROM latest WHERE seq <= (SELECT MAX(seq) FROM latest) - {LATEST_KEPT}"), None)?;
        // Retries come within moments; ten times the feed is plenty to remember.
        self.sql.exec(
            &format!("DELETE FROM seen WHERE seq <= (SELECT MAX(seq) FROM latest) - {}", LATEST_KEPT * 10),
            None,
        )?;
        let (credited, debited) = match transaction.kind {
            EntryKind::Credit => (transaction.amount, 0),
            EntryKind::Debit => (0, transaction.amount),
        };
        self.sql.exec(
            "INSERT INTO totals (id, transactions, credited, debited, last_at) VALUES (1, 1, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET transactions = transactions + 1, credited = credited + excluded.credited,
                debited = debited + excluded.debited, last_at = MAX(COALESCE(last_at, 0), excluded.last_at)",
            vec![sql_int(credited)?, sql_int(debited)?, sql_int(transaction.created_at)?],
        )?;
        Ok(true)
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
