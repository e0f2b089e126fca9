//! `PartnerSandbox`: the key's object, one Durable Object per partner key
//! (named by key id). It holds that key's gate state (replay cache, rate
//! windows, idempotency records, deprecated-route counts; see
//! [`crate::partner_gate::GateStore`]) and the partner's sandbox: users
//! and their wallets, balances, the ledger and donation claims. The sandbox
//! serves the partner routes when no `ORIGIN_URL` is configured.
//!
//! Holding both in one object makes a signed credit or debit one call
//! (`GateCommand::AdmitAndApply`): the nonce, the rate window, the
//! idempotency reservation and the ledger entry are written together or
//! not at all. (The class keeps the name it had when it held the sandbox
//! alone, so the stored ledgers stay where they are.)
//!
//! Validation, arithmetic and paging are `partner_edge::sandbox`; this object
//! stores rows. Each command runs without awaiting, so a debit's balance check
//! and its write cannot interleave with another request. Mutations are kept
//! under their `OnceKey`, so one Idempotency-Key applies once even if the
//! gate's record of it was lost.
//!
//! A credit or debit writes its webhook event and its anonymised public
//! record to the `outbox` with the entry, in the same command, and answers;
//! the object's alarm then hands the outbox to the key's `WebhookHub` and the
//! global `PublicActivity` in batches and deletes what both took. So the
//! partner never waits on delivery bookkeeping or the public figures, and
//! nothing is lost between the objects: a failed hand-over stays in the
//! outbox and is tried again (both receivers drop duplicates). The same
//! alarm purges the gate's expired rows.

use partner_edge::api::Page;
use partner_edge::error::Refusal;
use partner_edge::gate::{next_purge_at, Completion, GateCommand, ReadDeprecatedUsage};
use partner_edge::sandbox::KeyMessage;
use partner_edge::sandbox::{
    apply_entry, demo_users, entry_event, entry_id, AdmitAndApply, AdmittedAndApplied, Applied, ApplyEntry, Balance,
    ClaimDonation, CreateUser, DonationClaim, DonationClaimIn, FindWallet, GetBalance, GetUser, GetUserWallet,
    LedgerEntry, LedgerQuery, LinkWallet, ListLedger, OnceKey, Outboxed, PatchUser, SandboxCommand, SandboxReply,
    SandboxRequest, SandboxUser, UserIn, UserPatch, Wallet, WalletOwner, OUTBOX_BATCH, OUTBOX_GATHER_MS,
    OUTBOX_RETRY_MS,
};
use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State};

use crate::durable::{first_doc, from_json, parse_message, reply_text, rpc_only, sql_int, to_json, Doc, SchemaOnce};
use crate::http::{now_ms, now_secs};
use crate::partner_gate::GateStore;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        user_id TEXT PRIMARY KEY,
        number INTEGER NOT NULL,
        external_id TEXT UNIQUE,
        doc TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS wallets (address TEXT PRIMARY KEY, user_id TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        once_key TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS ledger_by_user ON ledger (user_id, seq)",
    "CREATE TABLE IF NOT EXISTS claims (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        once_key TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL)",
    // A refused credit or debit, kept for its retries (the ledger keeps the rest).
    "CREATE TABLE IF NOT EXISTS refusals (once_key TEXT PRIMARY KEY, kept_until INTEGER NOT NULL, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS refusals_by_expiry ON refusals (kept_until)",
];

crate::durable::object_over_state! {
    alarm PartnerSandbox => SandboxState
}

/// What a `PartnerSandbox` holds.
pub struct SandboxState {
    state: State,
    /// The runtime's state object, for `blockConcurrencyWhile` (see `gate_ready`).
    raw_state: worker::worker_sys::DurableObjectState,
    env: Env,
    sql: SqlStorage,
    schema: SchemaOnce,
    /// The key's gate state, in the same SQLite.
    gate: GateStore,
    /// Whether this instance has seen the earlier layout's gate state read in.
    gate_ready: std::cell::Cell<bool>,
    /// The object's one alarm (outbox and purge) as this instance last set or read it.
    alarm: crate::durable::AlarmSlot,
    /// Whether this instance knows an alarm is set to hand the outbox over.
    outbox_armed: std::cell::Cell<bool>,
    /// When this instance has the alarm set to purge the gate's expired
    /// rows (unix seconds); `None` before it knows.
    purge_at: std::cell::Cell<Option<u64>>,
    /// When this instance last purged them.
    last_purge: std::cell::Cell<Option<u64>>,
    /// Whether this instance has seen the demo users in place (they are
    /// never removed), so later calls skip the check.
    seeded: std::cell::Cell<bool>,
    /// The next ledger sequence number, once known. Every entry is written
    /// by this one instance, so the entry can be written whole in one
    /// statement, id included; unknown after a restart or a failed apply,
    /// and then read again.
    next_seq: std::cell::Cell<Option<u64>>,
    /// Users as last read or written. Only this instance writes `users`
    /// (through `insert_user` and `save_user`, which update this too), so
    /// a user found here is the stored one; a credit skips the read.
    users: std::cell::RefCell<std::collections::HashMap<String, SandboxUser>>,
}

/// How many users an instance keeps in memory; past it, it starts over.
const CACHED_USERS: usize = 1_000;

impl DurableObject for PartnerSandbox {
    fn new(state: State, env: Env) -> Self {
        let raw_state = state._inner();
        let state = State::from(
            worker::wasm_bindgen::JsCast::unchecked_into::<worker::worker_sys::DurableObjectState>(raw_state.clone()),
        );
        let sql = state.storage().sql();
        Self(std::rc::Rc::new(SandboxState {
            gate: GateStore::new(sql.clone()),
            sql,
            state,
            raw_state,
            env,
            schema: SchemaOnce::default(),
            gate_ready: std::cell::Cell::new(false),
            alarm: crate::durable::AlarmSlot::default(),
            outbox_armed: std::cell::Cell::new(false),
            purge_at: std::cell::Cell::new(None),
            last_purge: std::cell::Cell::new(None),
            seeded: std::cell::Cell::new(false),
            next_seq: std::cell::Cell::new(None),
            users: std::cell::RefCell::default(),
        }))
    }

    /// Hands the outbox to the key's webhook hub, a batch at a time, and,
    /// when due, purges the gate's expired nonces and stored answers; then
    /// sets the alarm again for whichever is due first.
    async fn alarm(&self) -> Result<Response> {
        self.ensure_schema()?;
        self.alarm.forget();
        self.outbox_armed.set(false);
        let now = now_ms();
        // Under load the outbox wakes this alarm every few tenths of a
        // second; the purge scans the nonces, so it runs only when due.
        let secs = now_secs(now);
        if self.purge_at.get().is_none_or(|at| at <= secs) {
            self.gate.purge(secs)?;
            self.last_purge.set(Some(secs));
            self.purge_at.set(next_purge_at(self.gate.next_expiry()?, Some(secs)));
        }
        let outbox_due = match self.hand_over().await {
            Ok(true) => Some(now),
            Ok(false) => None,
            Err(error) => {
                worker::console_error!("the sandbox outbox could not reach the webhook hub: {error}");
                Some(now + OUTBOX_RETRY_MS)
            }
        };
        let purge_due = self.purge_at.get().map(|at| at * 1000);
        if let Some(at) = outbox_due.into_iter().chain(purge_due).min() {
            self.alarm.ensure_by(&self.state, at).await?;
        }
        self.outbox_armed.set(outbox_due.is_some());
        Response::ok("handed over")
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("PartnerSandbox")
    }
}

crate::durable::commands_over_rpc!(PartnerSandbox);

impl PartnerSandbox {
    /// Runs one command message and answers with its reply, as JSON (the
    /// body of the object's `command` RPC method).
    async fn run(&self, message: &str) -> Result<String> {
        self.ensure_schema()?;
        match parse_message::<KeyMessage>("PartnerSandbox", message)? {
            KeyMessage::Gate(command) => self.gate_command(command).await,
            KeyMessage::Sandbox(request) => self.sandbox_command(request).await,
        }
    }

    fn ensure_schema(&self) -> Result<()> {
        self.schema.ensure_all(&self.sql, &[SCHEMA, crate::partner_gate::SCHEMA])
    }

    async fn gate_command(&self, command: GateCommand) -> Result<String> {
        self.gate_ready().await?;
        match command {
            GateCommand::AdmitAndApply(command) => {
                let now = command.admission.now;
                let (admission, fresh_key) = self.gate.admit(&command.admission)?;
                let applied = match &command.apply {
                    Some(entry) if AdmittedAndApplied::applies(&admission) => {
                        self.seed_once(now)?;
                        let (applied, outboxed) = self.apply(entry, now, fresh_key)?;
                        if outboxed {
                            self.arm_outbox().await?;
                        }
                        Some(applied)
                    }
                    _ => None,
                };
                self.arm_purge().await?;
                reply_text::<AdmitAndApply>(&AdmittedAndApplied { admission, applied })
            }
            GateCommand::Complete(completion) => {
                self.gate.complete(&completion)?;
                reply_text::<Completion>(&true)
            }
            GateCommand::DeprecatedUsage(query) => {
                reply_text::<ReadDeprecatedUsage>(&self.gate.deprecated_usage(query.now)?)
            }
        }
    }

    async fn sandbox_command(&self, request: SandboxRequest) -> Result<String> {
        self.seed_once(request.now)?;
        let now = request.now;
        match request.command {
            SandboxCommand::CreateUser(c) => reply_text::<CreateUser>(&self.create_user(c.input, now)?),
            SandboxCommand::GetUser(c) => reply_text::<GetUser>(&self.load_user(&c.user_id)?),
            SandboxCommand::PatchUser(c) => reply_text::<PatchUser>(&self.patch_user(&c.user_id, c.patch, now)?),
            SandboxCommand::LinkWallet(c) => reply_text::<LinkWallet>(&self.link_wallet(&c.user_id, c.wallet, now)?),
            SandboxCommand::GetUserWallet(c) => reply_text::<GetUserWallet>(&self.user_wallet(&c.user_id, &c.address)?),
            SandboxCommand::FindWallet(c) => reply_text::<FindWallet>(&self.find_wallet(&c.address)?),
            SandboxCommand::Balance(c) => reply_text::<GetBalance>(&self.balance(&c.user_id)?),
            SandboxCommand::Ledger(c) => reply_text::<ListLedger>(&self.ledger(&c.query)?),
            SandboxCommand::ClaimDonation(c) => reply_text::<ClaimDonation>(&self.claim(c.input, &c.once, now)?),
        }
    }

    /// Reads in, once, the gate state an earlier version kept in the key's
    /// own `PartnerGate` object. Nothing else reaches this object until that
    /// is done (the runtime's `blockConcurrencyWhile`, called directly: the
    /// workers-rs wrapper adds its own executor glue to the wasm), so no
    /// request is admitted without the nonces and stored answers from
    /// before the upgrade.
    async fn gate_ready(&self) -> Result<()> {
        if self.gate_ready.get() {
            return Ok(());
        }
        if !self.gate.imported()? {
            use worker::wasm_bindgen::{closure::Closure, JsCast, JsValue};
            let key_id = self.state.id().name().ok_or_else(|| worker::Error::from("the key's object has no name"))?;
            let (sql, env, now) = (self.sql.clone(), self.env.clone(), now_secs(now_ms()));
            let import = Closure::once_into_js(move || {
                crate::http::promise_of(Box::pin(async move {
                    // A rejection would reset the object: a failure resolves
                    // to its message instead, and the next command tries again.
                    Ok(match GateStore::import(sql, env, key_id, now).await {
                        Ok(()) => JsValue::NULL,
                        Err(error) => JsValue::from_str(&error.to_string()),
                    })
                }))
            });
            let blocked = self.raw_state.block_concurrency_while(import.unchecked_ref())?;
            let outcome = worker::wasm_bindgen_futures::JsFuture::from(blocked).await?;
            if let Some(error) = outcome.as_string() {
                return Err(worker::Error::from(format!("the key's earlier gate state could not be read: {error}")));
            }
        }
        self.gate_ready.set(true);
        Ok(())
    }

    /// After an admission, unless this instance has one set: an alarm for
    /// the next purge of the gate's expired rows.
    async fn arm_purge(&self) -> Result<()> {
        if self.purge_at.get().is_some() {
            return Ok(());
        }
        if let Some(at) = next_purge_at(self.gate.next_expiry()?, self.last_purge.get()) {
            self.alarm.ensure_by(&self.state, at * 1000).await?;
            self.purge_at.set(Some(at));
        }
        Ok(())
    }
}

fn optional(value: Option<&str>) -> SqlStorageValue {
    value.map_or(SqlStorageValue::Null, Into::into)
}

impl PartnerSandbox {
    /// A fresh sandbox holds the demo users, once.
    fn seed_once(&self, now: u64) -> Result<()> {
        if self.seeded.get() {
            return Ok(());
        }
        if first_doc(&self.sql, "SELECT value AS doc FROM meta WHERE name = 'seeded'", vec![])?.is_none() {
            for user in demo_users(now) {
                self.insert_user(&user)?;
            }
            self.sql.exec("INSERT INTO meta (name, value) VALUES ('seeded', '1')", None)?;
        }
        self.seeded.set(true);
        Ok(())
    }

    /// Runs one command. `Err` is a storage failure (a 500); business
    /// refusals are `Ok(Err(Refusal))`.
    fn load_user(&self, user_id: &str) -> Result<SandboxReply<SandboxUser>> {
        if let Some(user) = self.users.borrow().get(user_id) {
            return Ok(Ok(user.clone()));
        }
        match first_doc(&self.sql, "SELECT doc FROM users WHERE user_id = ?", vec![user_id.into()])? {
            Some(doc) => {
                let user: SandboxUser = from_json(&doc)?;
                self.remember_user(&user);
                Ok(Ok(user))
            }
            None => Ok(Err(Refusal::not_found("user", user_id))),
        }
    }

    /// Keeps `user` as stored, for the next `load_user`.
    fn remember_user(&self, user: &SandboxUser) {
        let mut users = self.users.borrow_mut();
        if users.len() >= CACHED_USERS && !users.contains_key(&user.user_id) {
            users.clear();
        }
        users.insert(user.user_id.clone(), user.clone());
    }

    /// One wallet of one user, matched case-insensitively by address.
    fn user_wallet(&self, user_id: &str, address: &str) -> Result<SandboxReply<Wallet>> {
        let user = match self.load_user(user_id)? {
            Ok(user) => user,
            Err(refusal) => return Ok(Err(refusal)),
        };
        Ok(user
            .wallets
            .into_iter()
            .find(|wallet| wallet.address.eq_ignore_ascii_case(address))
            .ok_or_else(|| Refusal::not_found("wallet", address)))
    }

    /// The user a wallet is linked to, and the wallet.
    fn find_wallet(&self, address: &str) -> Result<SandboxReply<WalletOwner>> {
        let Some(user_id) = first_doc(
            &self.sql,
            "SELECT user_id AS doc FROM wallets WHERE address = ?",
            vec![address.to_ascii_lowercase().into()],
        )?
        else {
            return Ok(Err(Refusal::not_found("wallet", address)));
        };
        Ok(self.user_wallet(&user_id, address)?.map(|wallet| WalletOwner { user_id, wallet }))
    }

    fn insert_user(&self, user: &SandboxUser) -> Result<()> {
        let number: u64 = user.user_id.parse().unwrap_or(0);
        self.sql.exec(
            "INSERT INTO users (user_id, number, external_id, doc) VALUES (?, ?, ?, ?)",
            vec![
                user.user_id.as_str().into(),
                sql_int(number)?,
                optional(user.external_id.as_deref()),
                to_json(user)?.into(),
            ],
        )?;
        self.remember_user(user);
        Ok(())
    }

    fn save_user(&self, user: &SandboxUser) -> Result<()> {
        self.sql.exec(
            "UPDATE users SET doc = ? WHERE user_id = ?",
            vec![to_json(user)?.into(), user.user_id.as_str().into()],
        )?;
        self.remember_user(user);
        Ok(())
    }

    fn create_user(&self, input: UserIn, now: u64) -> Result<SandboxReply<SandboxUser>> {
        if let Some(external_id) = &input.external_id {
            let taken =
                first_doc(&self.sql, "SELECT doc FROM users WHERE external_id = ?", vec![external_id.as_str().into()])?;
            if taken.is_some() {
                return Ok(Err(Refusal::conflict(format!("external_id {external_id} belongs to another user"))));
            }
        }
        #[derive(Deserialize)]
        struct Highest {
            highest: Option<i64>,
        }
        let highest = self.sql.exec("SELECT MAX(number) AS highest FROM users", None)?.one::<Highest>()?.highest;
        let user = SandboxUser::create(input, highest.unwrap_or(0).unsigned_abs(), now);
        self.insert_user(&user)?;
        Ok(Ok(user))
    }

    fn patch_user(&self, user_id: &str, patch: UserPatch, now: u64) -> Result<SandboxReply<SandboxUser>> {
        let mut user = match self.load_user(user_id)? {
            Ok(user) => user,
            Err(error) => return Ok(Err(error)),
        };
        patch.apply(&mut user, now);
        self.save_user(&user)?;
        Ok(Ok(user))
    }

    fn link_wallet(&self, user_id: &str, wallet: Wallet, now: u64) -> Result<SandboxReply<SandboxUser>> {
        let mut user = match self.load_user(user_id)? {
            Ok(user) => user,
            Err(error) => return Ok(Err(error)),
        };
        let owner = first_doc(
            &self.sql,
            "SELECT user_id AS doc FROM wallets WHERE address = ?",
            vec![wallet.address.to_ascii_lowercase().into()],
        )?;
        if let Some(owner) = owner {
            return Ok(Err(Refusal::conflict(format!("wallet {} is already linked to user {owner}", wallet.address))));
        }
        self.sql.exec(
            "INSERT INTO wallets (address, user_id) VALUES (?, ?)",
            vec![wallet.address.to_ascii_lowercase().into(), user_id.into()],
        )?;
        user.wallets.push(wallet);
        user.updated_at = now;
        self.save_user(&user)?;
        Ok(Ok(user))
    }

    /// After an entry went to the outbox: an alarm to hand it over, after
    /// `OUTBOX_GATHER_MS`, so entries written together travel together.
    async fn arm_outbox(&self) -> Result<()> {
        if !self.outbox_armed.get() {
            self.alarm.ensure_by(&self.state, now_ms() + OUTBOX_GATHER_MS).await?;
            self.outbox_armed.set(true);
        }
        Ok(())
    }

    /// Hands the oldest batch to the hub and deletes it; answers whether more wait.
    async fn hand_over(&self) -> Result<bool> {
        #[derive(Deserialize)]
        struct Row {
            seq: i64,
            doc: String,
        }
        let rows = self
            .sql
            .exec("SELECT seq, doc FROM outbox ORDER BY seq LIMIT ?", vec![i64::from(OUTBOX_BATCH).into()])?
            .to_array::<Row>()?;
        let Some(last) = rows.last().map(|row| row.seq) else { return Ok(false) };
        let items = rows.iter().map(|row| from_json::<Outboxed>(&row.doc)).collect::<Result<Vec<_>>>()?;
        let key_id = items.first().map(|item| item.key_id.clone()).unwrap_or_default();
        let (events, records): (Vec<_>, Vec<_>) = items.into_iter().map(|item| (item.event, item.activity)).unzip();
        let batch = partner_edge::webhooks::commands::PublishBatch { events };
        crate::routes::webhooks::call_webhook_hub(&self.env, &key_id, batch)
            .await
            .map_err(crate::error::api_to_worker)?;
        // Both receivers drop what they already have, so a batch retried
        // after only the first of them took it is counted once in each.
        let records: Vec<_> = records.into_iter().flatten().collect();
        if !records.is_empty() {
            let activity = crate::routes::public::activity(&self.env).map_err(crate::error::api_to_worker)?;
            crate::durable::send(activity, partner_edge::public::RecordTransactions { records }).await?;
        }
        self.sql.exec("DELETE FROM outbox WHERE seq <= ?", vec![last.into()])?;
        Ok(rows.len() as u32 == OUTBOX_BATCH)
    }

    /// Applies the entry once per once-key: a retry gets the kept answer,
    /// entry or refusal. The flag says whether this call wrote a new entry
    /// (and so an event to the outbox).
    ///
    /// `fresh_key`: the gate reserved the request's idempotency key in this
    /// same call, because no live record held it. Then nothing needs
    /// looking up first: a kept refusal lasts exactly as long as the gate's
    /// record of its key (both end at the first request's time plus the
    /// idempotency TTL, set in one call), and an entry kept longer than
    /// that is caught by the ledger's unique `once_key` as it is written.
    fn apply(&self, command: &ApplyEntry, now: u64, fresh_key: bool) -> Result<(Applied, bool)> {
        let (kind, input, once) = (command.kind, command.input.clone(), &command.once);
        let key = once.storage_key();
        if !fresh_key {
            if let Some(kept) = self.kept(&key, now)? {
                return Ok((kept, false));
            }
        }
        let refused = |refusal: Refusal| -> Result<(Applied, bool)> {
            // An entry kept from longer ago than the gate remembers keys
            // still answers its retry, however the balance stands now.
            if fresh_key {
                if let Some(kept) = self.kept(&key, now)? {
                    return Ok((kept, false));
                }
            }
            self.sql.exec("DELETE FROM refusals WHERE kept_until <= ?", vec![sql_int(now)?])?;
            self.sql.exec(
                "INSERT OR REPLACE INTO refusals (once_key, kept_until, doc) VALUES (?, ?, ?)",
                vec![
                    key.as_str().into(),
                    sql_int(now.saturating_add(command.refusal_keep_secs))?,
                    to_json(&refusal)?.into(),
                ],
            )?;
            Ok((Applied { outcome: Err(refusal), replayed: false }, false))
        };
        let mut user = match self.load_user(&input.user_id)? {
            Ok(user) => user,
            Err(error) => return refused(error),
        };
        let balance = match apply_entry(&user.user_id, kind, user.balance, input.amount) {
            Ok(balance) => balance,
            Err(error) => return refused(error),
        };
        let seq = match self.next_seq.take() {
            Some(seq) => seq,
            None => {
                #[derive(Deserialize)]
                struct Last {
                    seq: i64,
                }
                // Ledger rows are never deleted, so the highest is the last given.
                let last = self.sql.exec("SELECT COALESCE(MAX(seq), 0) AS seq FROM ledger", None)?.one::<Last>()?;
                last.seq.unsigned_abs() + 1
            }
        };
        let entry = LedgerEntry {
            entry_id: entry_id(seq),
            user_id: user.user_id.clone(),
            kind,
            amount: input.amount,
            balance_after: balance,
            reason: input.reason,
            source: input.source,
            idempotency_key: once.idempotency_key.clone(),
            created_at: now,
        };
        // `RETURNING` tells a skipped row apart: the rows-written count does
        // not, as the AUTOINCREMENT bookkeeping is written either way.
        let written = self
            .sql
            .exec(
                "INSERT INTO ledger (seq, user_id, kind, once_key, doc) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (once_key) DO NOTHING RETURNING seq",
                vec![
                    sql_int(seq)?,
                    user.user_id.as_str().into(),
                    kind.as_str().into(),
                    key.as_str().into(),
                    to_json(&entry)?.into(),
                ],
            )?
            .to_array::<serde_json::Value>()?;
        if written.is_empty() {
            // Applied under this key and fingerprint before, longer ago than
            // the gate remembers keys: the kept entry is the answer.
            self.next_seq.set(Some(seq));
            let kept = self.kept(&key, now)?;
            return kept.map(|kept| (kept, false)).ok_or_else(|| {
                worker::Error::from("the ledger refused an entry under a once-key it does not hold".to_owned())
            });
        }
        user.balance = balance;
        user.updated_at = now;
        self.save_user(&user)?;
        // The entry's event, in the same command: handed to the hub by the alarm.
        let outboxed = entry_event(&command.key_id, &entry, command.at_ms).map_err(worker::Error::from)?;
        self.sql.exec("INSERT INTO outbox (doc) VALUES (?)", vec![to_json(&outboxed)?.into()])?;
        self.next_seq.set(Some(seq + 1));
        Ok((Applied { outcome: Ok(entry), replayed: false }, true))
    }

    /// The answer kept under `key`: its ledger entry, or its refusal while
    /// that is kept; marked as replayed.
    fn kept(&self, key: &str, now: u64) -> Result<Option<Applied>> {
        #[derive(Deserialize)]
        struct Kept {
            doc: String,
            refused: i64,
        }
        let kept = self
            .sql
            .exec(
                "SELECT doc, 0 AS refused FROM ledger WHERE once_key = ?
                 UNION ALL SELECT doc, 1 AS refused FROM refusals WHERE once_key = ? AND kept_until > ?",
                vec![key.into(), key.into(), sql_int(now)?],
            )?
            .to_array::<Kept>()?
            .into_iter()
            .next();
        kept.map(|kept| {
            let outcome = if kept.refused == 0 { Ok(from_json(&kept.doc)?) } else { Err(from_json(&kept.doc)?) };
            Ok(Applied { outcome, replayed: true })
        })
        .transpose()
    }

    fn balance(&self, user_id: &str) -> Result<SandboxReply<Balance>> {
        let user = match self.load_user(user_id)? {
            Ok(user) => user,
            Err(error) => return Ok(Err(error)),
        };
        #[derive(Deserialize)]
        struct Count {
            entries: i64,
        }
        let entries = self
            .sql
            .exec("SELECT COUNT(*) AS entries FROM ledger WHERE user_id = ?", vec![user_id.into()])?
            .one::<Count>()?
            .entries
            .unsigned_abs();
        Ok(Ok(Balance { user_id: user.user_id, balance: user.balance, entries }))
    }

    fn ledger(&self, query: &LedgerQuery) -> Result<SandboxReply<Page<LedgerEntry>>> {
        let mut sql = String::from("SELECT doc FROM ledger WHERE 1 = 1");
        let mut bindings: Vec<SqlStorageValue> = Vec::new();
        if let Some(user_id) = &query.user_id {
            sql.push_str(" AND user_id = ?");
            bindings.push(user_id.as_str().into());
        }
        if let Some(kind) = query.kind {
            sql.push_str(" AND kind = ?");
            bindings.push(kind.as_str().into());
        }
        if let Some(before) = query.before_seq {
            sql.push_str(" AND seq < ?");
            bindings.push(sql_int(before)?);
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        bindings.push(i64::from(query.limit + 1).into());
        let rows = self
            .sql
            .exec(&sql, bindings)?
            .to_array::<Doc>()?
            .iter()
            .map(|row| from_json::<LedgerEntry>(&row.doc))
            .collect::<Result<Vec<_>>>()?;
        Ok(Ok(query.page(rows)))
    }

    fn claim(&self, input: DonationClaimIn, once: &OnceKey, now: u64) -> Result<SandboxReply<DonationClaim>> {
        let key = once.storage_key();
        if let Some(doc) = first_doc(&self.sql, "SELECT doc FROM claims WHERE once_key = ?", vec![key.as_str().into()])?
        {
            return Ok(Ok(from_json(&doc)?));
        }
        if let Err(error) = self.load_user(&input.user_id)? {
            return Ok(Err(error));
        }
        #[derive(Deserialize)]
        struct Seq {
            seq: i64,
        }
        let seq = self
            .sql
            .exec("INSERT INTO claims (once_key, doc) VALUES (?, '') RETURNING seq", vec![key.into()])?
            .one::<Seq>()?
            .seq
            .unsigned_abs();
        let claim = DonationClaim {
            claim_id: format!("dc_{seq}"),
            user_id: input.user_id,
            campaign_id: input.campaign_id,
            amount: input.amount,
            note: input.note,
            status: "claimed".to_owned(),
            idempotency_key: once.idempotency_key.clone(),
            created_at: now,
        };
        self.sql.exec("UPDATE claims SET doc = ? WHERE seq = ?", vec![to_json(&claim)?.into(), sql_int(seq)?])?;
        Ok(Ok(claim))
    }
}
