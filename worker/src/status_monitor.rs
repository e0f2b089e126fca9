//! `StatusMonitor`: one Durable Object (named `global`). It records every
//! health probe (`/api/public/health`), and it runs the status monitor: on
//! its own alarm (every `STATUS_PROBE_INTERVAL_SECONDS`, 60 by default) it
//! probes KV, another Durable Object, the webhook queue and, when set, the
//! origin, and stores the sample per minute for 24 h, rolled up per hour for
//! 30 days and per day for a year. It is armed by the first request an
//! isolate serves and, in production, re-armed by the cron trigger.
//!
//! The object only stores and schedules: what a probe means, and how samples
//! roll up, is `partner_edge::status`'s job.

use partner_edge::health::{DurableObjectProbe, ProbeRecord};
use partner_edge::incidents::{
    missed_probes, observe, render, Incident, IncidentList, IncidentRecord, IncidentSource, Observation, OpenIncident,
    PostIncidentUpdate, ReadIncidents, UpdateOutcome, UpdateRefused, INCIDENTS_KEPT, INCIDENTS_KEPT_SECS,
};
use partner_edge::latency::{self as latency, MergeLatency, ReadLatency, Sketch};
use partner_edge::status::{
    judge_probe, judge_queue, resolution_for, system_status, uptime, Check, ComponentState, ComponentStatus,
    DailyRollups, EnsureArmed, ReadStatus, ReadTrend, ReadUptime, Resolution, Rollup, Sample, StatusCommand,
    TrendPoint, DAYS_KEPT_SECS, HOURS_KEPT_SECS, MINUTES_KEPT_SECS,
};
use serde::Deserialize;
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, State};

use crate::bindings;
use crate::durable::{first_doc, from_json, parse_message, reply_text, rpc_only, send, sql_int, to_json, SchemaOnce};
use crate::http::now_ms;

/// Probes older than this many are pruned; the count keeps growing regardless.
const PROBES_KEPT: i64 = 1000;

/// A probe slower than this is degraded.
const SLOW_MS: u64 = 1_000;

/// At most this many partners' webhook queues are summed per probe.
const QUEUES_PER_PROBE: usize = 50;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS probes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS minutes (minute INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hours (hour INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS days (day INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS monitor_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS latest (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL)",
    // `end_ms` is null while the incident is open.
    "CREATE TABLE IF NOT EXISTS incidents (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        first_ms INTEGER NOT NULL,
        end_ms INTEGER,
        doc TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS incidents_by_end ON incidents (end_ms)",
    // One DDSketch per bucket (`hour` or `day`) and series.
    "CREATE TABLE IF NOT EXISTS latency (
        resolution TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        series TEXT NOT NULL,
        sketch TEXT NOT NULL,
        PRIMARY KEY (resolution, bucket, series)
    )",
];

crate::durable::object_over_state! {
    alarm StatusMonitor => StatusMonitorState
}

/// What a `StatusMonitor` holds.
pub struct StatusMonitorState {
    state: State,
    env: Env,
    sql: SqlStorage,
    schema: SchemaOnce,
}

crate::durable::commands_over_rpc!(StatusMonitor);

impl StatusMonitor {
    /// Runs one command message and answers with its reply, as JSON (the
    /// body of the object's `command` RPC method).
    async fn run(&self, message: &str) -> Result<String> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        let command: StatusCommand = parse_message("StatusMonitor", message)?;
        match command {
            StatusCommand::RecordProbe(record) => reply_text::<ProbeRecord>(&self.record(&record)?),
            StatusCommand::Arm(arm) => reply_text::<EnsureArmed>(&self.arm(&arm).await?),
            StatusCommand::Status(_) => reply_text::<ReadStatus>(&self.status().await?),
            StatusCommand::Trend(query) => reply_text::<ReadTrend>(&self.trend(query.limit)?),
            StatusCommand::Uptime(query) => reply_text::<ReadUptime>(&self.uptime(query.hours)?),
            StatusCommand::Incidents(query) => reply_text::<ReadIncidents>(&self.incidents(&query)?),
            StatusCommand::OpenIncident(open) => reply_text::<OpenIncident>(&self.open_incident(open.record)?),
            StatusCommand::UpdateIncident(update) => reply_text::<PostIncidentUpdate>(&self.update_incident(update)?),
            StatusCommand::MergeLatency(batch) => reply_text::<MergeLatency>(&self.merge_latency(&batch)?),
            StatusCommand::Latency(query) => reply_text::<ReadLatency>(&self.latency(query.hours)?),
        }
    }
}

impl DurableObject for StatusMonitor {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        Self(std::rc::Rc::new(StatusMonitorState { state, env, sql, schema: SchemaOnce::default() }))
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        rpc_only("StatusMonitor")
    }

    async fn alarm(&self) -> Result<Response> {
        self.schema.ensure(&self.sql, SCHEMA)?;
        let sample = self.probe().await;
        self.store(&sample)?;
        self.set_alarm_in(self.interval()?).await?;
        Response::ok("probed")
    }
}

impl StatusMonitor {
    fn record(&self, record: &ProbeRecord) -> Result<DurableObjectProbe> {
        #[derive(Deserialize)]
        struct Inserted {
            seq: i64,
        }
        let at_ms = i64::try_from(record.at_ms).map_err(|_| worker::Error::from("probe time out of range"))?;
        let inserted: Inserted = self
            .sql
            .exec(
                "INSERT INTO probes (request_id, at_ms) VALUES (?, ?) RETURNING seq",
                vec![record.request_id.as_str().into(), at_ms.into()],
            )?
            .one()?;
        self.sql.exec("DELETE FROM probes WHERE seq <= ?", vec![(inserted.seq - PROBES_KEPT).into()])?;
        Ok(DurableObjectProbe { probes_recorded: inserted.seq.unsigned_abs() })
    }

    fn interval(&self) -> Result<u64> {
        crate::config::status_probe_interval_secs(&self.env).map_err(|e| worker::Error::from(format!("{e:?}")))
    }

    fn meta(&self, name: &str) -> Result<Option<u64>> {
        #[derive(Deserialize)]
        struct Row {
            value: i64,
        }
        Ok(self
            .sql
            .exec("SELECT value FROM monitor_meta WHERE name = ?", vec![name.into()])?
            .to_array::<Row>()?
            .first()
            .map(|row| row.value.unsigned_abs()))
    }

    fn set_meta(&self, name: &str, value: u64) -> Result<()> {
        self.sql.exec(
            "INSERT OR REPLACE INTO monitor_meta (name, value) VALUES (?, ?)",
            vec![name.into(), sql_int(value)?],
        )?;
        Ok(())
    }

    async fn set_alarm_in(&self, secs: u64) -> Result<()> {
        crate::durable::set_alarm_at(&self.state, now_ms() + secs * 1000).await
    }

    /// Sets the alarm if none is set: the monitor then keeps itself going.
    async fn arm(&self, arm: &EnsureArmed) -> Result<bool> {
        if arm.by_cron {
            self.set_meta("cron_last_seen_ms", now_ms())?;
        }
        if self.state.storage().get_alarm().await?.is_some() {
            return Ok(false);
        }
        // The first probe comes soon after arming, not a whole interval later.
        self.set_alarm_in(1).await?;
        Ok(true)
    }

    /// Runs every check; a check that cannot run is an outage of that check.
    async fn probe(&self) -> Sample {
        let at_ms = now_ms();
        let mut checks = Vec::new();
        let kv = self.probe_kv().await;
        checks.push((Check::Kv, kv));
        let object = self.probe_object().await;
        checks.push((Check::DurableObject, object));
        checks.push((Check::WebhookQueue, self.probe_queue().await));
        if let Some(origin) = self.probe_origin().await {
            checks.push((Check::Origin, origin));
        }
        Sample { at_ms, checks }
    }

    async fn probe_kv(&self) -> ComponentStatus {
        let started = now_ms();
        let ok = async {
            let kv = self.env.kv(bindings::KV)?;
            kv.put("status:monitor-probe", started.to_string())?.execute().await?;
            let back = kv.get("status:monitor-probe").text().await?;
            Ok::<bool, worker::Error>(back.is_some())
        }
        .await
        .unwrap_or(false);
        judge_probe(ok, now_ms().saturating_sub(started), SLOW_MS)
    }

    async fn probe_object(&self) -> ComponentStatus {
        let started = now_ms();
        let ok = async {
            let stub = bindings::stub(&self.env, bindings::ROUTE_USAGE, "global")?;
            let query = partner_edge::lifecycle::ReadMigration { deprecation_id: "status-probe".into(), since_day: 0 };
            send(stub, query).await.map(|_| true)
        }
        .await
        .unwrap_or(false);
        judge_probe(ok, now_ms().saturating_sub(started), SLOW_MS)
    }

    /// The webhook backlog, summed over (at most 50) partners' hubs.
    async fn probe_queue(&self) -> ComponentStatus {
        let summed = async {
            let kv = self.env.kv(bindings::KV)?;
            let page = kv.list().prefix("webhook-hub:".to_owned()).limit(QUEUES_PER_PROBE as u64).execute().await?;
            let (mut depth, mut oldest) = (0u64, None::<u64>);
            for key in page.keys {
                let Some(key_id) = key.name.strip_prefix("webhook-hub:") else { continue };
                let stub = bindings::stub(&self.env, bindings::WEBHOOK_HUB, key_id)?;
                let request = partner_edge::webhooks::commands::HubRequest {
                    key_id: key_id.to_owned(),
                    command: partner_edge::webhooks::commands::ReadMetrics {}.into(),
                };
                let metrics =
                    crate::durable::send_in::<partner_edge::webhooks::commands::ReadMetrics, _>(stub, &request).await?;
                depth += metrics.queue_depth;
                oldest = match (oldest, metrics.oldest_created_at_ms) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            Ok::<(u64, Option<u64>), worker::Error>((depth, oldest))
        }
        .await;
        match summed {
            Ok((depth, oldest)) => judge_queue(depth, oldest.map_or(0, |at| now_ms().saturating_sub(at) / 1000)),
            Err(error) => {
                worker::console_error!("status monitor: the webhook queue could not be read: {error}");
                ComponentStatus::MajorOutage
            }
        }
    }

    /// The origin's health path, when an origin is configured.
    async fn probe_origin(&self) -> Option<ComponentStatus> {
        let origin = crate::config::origin(&self.env).ok().flatten()?;
        let path = crate::config::lookup(&self.env, "ORIGIN_HEALTH_PATH").unwrap_or_else(|| "/health".to_owned());
        let mut url = origin.clone();
        url.set_path(&format!("{}{}", origin.path().trim_end_matches('/'), path));
        let started = now_ms();
        let ok = async {
            let mut init = worker::RequestInit::new();
            init.with_redirect(worker::RequestRedirect::Manual);
            let request = Request::new_with_init(url.as_str(), &init)?;
            let timeout =
                crate::config::origin_health_timeout(&self.env).map_err(|e| worker::Error::from(format!("{e:?}")))?;
            Ok::<bool, worker::Error>(
                crate::http::fetch_bounded(request, timeout, 1024)
                    .await
                    .is_ok_and(|answer| (200..300).contains(&answer.status)),
            )
        }
        .await
        .unwrap_or(false);
        Some(judge_probe(ok, now_ms().saturating_sub(started), SLOW_MS))
    }

    /// Keeps the latest probe (what the status says now), stores each
    /// minute's worst state (the history), folds the probe into its hour and
    /// day, and prunes each resolution.
    fn store(&self, sample: &Sample) -> Result<()> {
        self.track_incidents(sample)?;
        self.sql.exec("INSERT OR REPLACE INTO latest (id, doc) VALUES (1, ?)", vec![to_json(sample)?.into()])?;
        let secs = sample.at_ms / 1000;
        let (minute, hour, day) = (secs / 60, secs / 3600, secs / 86_400);
        let kept = match first_doc(&self.sql, "SELECT doc FROM minutes WHERE minute = ?", vec![sql_int(minute)?])? {
            Some(doc) => from_json::<Sample>(&doc)?.worst_of(sample),
            None => sample.clone(),
        };
        self.sql.exec(
            "INSERT OR REPLACE INTO minutes (minute, doc) VALUES (?, ?)",
            vec![sql_int(minute)?, to_json(&kept)?.into()],
        )?;
        for (table, column, key) in [("hours", "hour", hour), ("days", "day", day)] {
            let mut rollup: Rollup = match first_doc(
                &self.sql,
                &format!("SELECT doc FROM {table} WHERE {column} = ?"),
                vec![sql_int(key)?],
            )? {
                Some(doc) => from_json(&doc)?,
                None => Rollup::default(),
            };
            rollup.add(sample);
            self.sql.exec(
                &format!("INSERT OR REPLACE INTO {table} ({column}, doc) VALUES (?, ?)"),
                vec![sql_int(key)?, to_json(&rollup)?.into()],
            )?;
        }
        self.sql.exec(
            "DELETE FROM minutes WHERE minute < ?",
            vec![sql_int((secs.saturating_sub(MINUTES_KEPT_SECS)) / 60)?],
        )?;
        self.sql
            .exec("DELETE FROM hours WHERE hour < ?", vec![sql_int((secs.saturating_sub(HOURS_KEPT_SECS)) / 3600)?])?;
        self.sql
            .exec("DELETE FROM days WHERE day < ?", vec![sql_int((secs.saturating_sub(DAYS_KEPT_SECS)) / 86_400)?])?;
        self.set_meta("last_probe_ms", sample.at_ms)
    }

    fn latest(&self) -> Result<Option<Sample>> {
        first_doc(&self.sql, "SELECT doc FROM latest WHERE id = 1", vec![])?.map(|doc| from_json(&doc)).transpose()
    }

    async fn status(&self) -> Result<partner_edge::status::SystemStatus> {
        let alarm_running = self.state.storage().get_alarm().await?.is_some();
        Ok(system_status(
            self.latest()?.as_ref(),
            now_ms(),
            self.interval()?,
            alarm_running,
            self.meta("cron_last_seen_ms")?,
        ))
    }

    fn trend(&self, limit: u32) -> Result<Vec<TrendPoint>> {
        #[derive(Deserialize)]
        struct Row {
            doc: String,
        }
        let rows = self
            .sql
            .exec(
                "SELECT doc FROM (SELECT minute, doc FROM minutes ORDER BY minute DESC LIMIT ?) ORDER BY minute",
                vec![i64::from(limit).into()],
            )?
            .to_array::<Row>()?;
        rows.iter()
            .map(|row| {
                let sample: Sample = from_json(&row.doc)?;
                Ok(TrendPoint {
                    at: partner_edge::lifecycle::rfc3339(sample.at_ms / 1000),
                    overall: sample.overall(),
                    components: sample
                        .checks
                        .iter()
                        .map(|(check, status)| ComponentState { check: *check, status: *status })
                        .collect(),
                })
            })
            .collect()
    }

    /// Availability over the last `hours`, from the resolution that covers
    /// it, summed per UTC day.
    fn uptime(&self, hours: u64) -> Result<partner_edge::status::Uptime> {
        #[derive(Deserialize)]
        struct Row {
            key: i64,
            doc: String,
        }
        let now = now_ms() / 1000;
        let since = now.saturating_sub(hours * 3600);
        let resolution = resolution_for(hours);
        // Each table's key, and how many of its units make a day.
        let (table, column, key, per_day) = match resolution {
            Resolution::Minute => ("minutes", "minute", since / 60, 1_440),
            Resolution::Hour => ("hours", "hour", since / 3600, 24),
            Resolution::Day => ("days", "day", since / 86_400, 1),
        };
        let mut daily = DailyRollups::default();
        for row in self
            .sql
            .exec(&format!("SELECT {column} AS key, doc FROM {table} WHERE {column} >= ?"), vec![sql_int(key)?])?
            .to_array::<Row>()?
        {
            let day = daily.day(row.key.unsigned_abs() / per_day);
            if resolution == Resolution::Minute {
                day.add(&from_json::<Sample>(&row.doc)?);
            } else {
                day.merge(&from_json::<Rollup>(&row.doc)?);
            }
        }
        Ok(uptime(hours, &daily, resolution))
    }
}

/// A stored incident row.
#[derive(Deserialize)]
struct IncidentRow {
    seq: i64,
    doc: String,
}

impl IncidentRow {
    fn parse(&self) -> Result<(u64, IncidentRecord)> {
        Ok((self.seq.unsigned_abs(), from_json(&self.doc)?))
    }
}

fn source_name(source: IncidentSource) -> &'static str {
    match source {
        IncidentSource::Monitor => "monitor",
        IncidentSource::Operator => "operator",
    }
}

impl StatusMonitor {
    /// Opens, extends or resolves the monitor's own incident from `sample`,
    /// records a stretch without probes, and prunes old incidents.
    fn track_incidents(&self, sample: &Sample) -> Result<()> {
        if let Some(gap) = missed_probes(self.meta("last_probe_ms")?, sample.at_ms, self.interval()?) {
            self.insert_incident(&gap)?;
        }
        let open = self
            .sql
            .exec(
                "SELECT seq, doc FROM incidents WHERE source = 'monitor' AND end_ms IS NULL ORDER BY seq DESC LIMIT 1",
                vec![],
            )?
            .to_array::<IncidentRow>()?
            .first()
            .map(IncidentRow::parse)
            .transpose()?;
        match (observe(open.as_ref().map(|(_, record)| record), sample), open) {
            (Observation::Unchanged, _) => {}
            (Observation::Opened(record), _) => {
                self.insert_incident(&record)?;
            }
            (Observation::Changed(record), Some((seq, _))) => self.save_incident(seq, &record)?,
            (Observation::Changed(_), None) => {
                return Err(worker::Error::from("an incident changed that was not open"))
            }
        }
        let cutoff = (sample.at_ms / 1000).saturating_sub(INCIDENTS_KEPT_SECS) * 1000;
        self.sql.exec("DELETE FROM incidents WHERE end_ms IS NOT NULL AND end_ms < ?", vec![sql_int(cutoff)?])?;
        self.sql.exec(
            "DELETE FROM incidents WHERE end_ms IS NOT NULL AND seq <= (SELECT MAX(seq) FROM incidents) - ?",
            vec![sql_int(INCIDENTS_KEPT)?],
        )?;
        Ok(())
    }

    fn insert_incident(&self, record: &IncidentRecord) -> Result<u64> {
        #[derive(Deserialize)]
        struct Inserted {
            seq: i64,
        }
        let end = record.resolved_ms.map(sql_int).transpose()?;
        let inserted: Inserted = self
            .sql
            .exec(
                "INSERT INTO incidents (source, first_ms, end_ms, doc) VALUES (?, ?, ?, ?) RETURNING seq",
                vec![
                    source_name(record.source).into(),
                    sql_int(record.first_seen_ms)?,
                    end.unwrap_or(worker::SqlStorageValue::Null),
                    to_json(record)?.into(),
                ],
            )?
            .one()?;
        Ok(inserted.seq.unsigned_abs())
    }

    fn save_incident(&self, seq: u64, record: &IncidentRecord) -> Result<()> {
        let end = record.resolved_ms.map(sql_int).transpose()?;
        self.sql.exec(
            "UPDATE incidents SET end_ms = ?, doc = ? WHERE seq = ?",
            vec![end.unwrap_or(worker::SqlStorageValue::Null), to_json(record)?.into(), sql_int(seq)?],
        )?;
        Ok(())
    }

    /// Every incident open at some time in the last `hours`, newest first.
    fn incidents(&self, query: &ReadIncidents) -> Result<IncidentList> {
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let now = now_ms();
        let since = now.saturating_sub(query.hours * 3_600_000);
        let rows = self
            .sql
            .exec(
                "SELECT seq, doc FROM incidents WHERE end_ms IS NULL OR end_ms >= ?
                 ORDER BY first_ms DESC, seq DESC LIMIT ?",
                vec![sql_int(since)?, i64::from(query.limit).into()],
            )?
            .to_array::<IncidentRow>()?;
        let active: Count = self.sql.exec("SELECT COUNT(*) AS n FROM incidents WHERE end_ms IS NULL", vec![])?.one()?;
        let incidents = rows
            .iter()
            .map(|row| row.parse().map(|(seq, record)| render(seq, &record, now)))
            .collect::<Result<Vec<_>>>()?;
        Ok(IncidentList { hours: query.hours, active: active.n.unsigned_abs(), incidents })
    }

    fn open_incident(&self, record: IncidentRecord) -> Result<Incident> {
        let seq = self.insert_incident(&record)?;
        Ok(render(seq, &record, now_ms()))
    }

    fn update_incident(&self, post: PostIncidentUpdate) -> Result<UpdateOutcome> {
        let Ok(seq) = i64::try_from(post.seq) else { return Ok(UpdateOutcome::NotFound) };
        let row = self
            .sql
            .exec("SELECT seq, doc FROM incidents WHERE seq = ?", vec![seq.into()])?
            .to_array::<IncidentRow>()?;
        let Some((seq, mut record)) = row.first().map(IncidentRow::parse).transpose()? else {
            return Ok(UpdateOutcome::NotFound);
        };
        let now = now_ms();
        Ok(match post.update.apply(&mut record, now) {
            Ok(()) => {
                self.save_incident(seq, &record)?;
                UpdateOutcome::Updated(render(seq, &record, now))
            }
            Err(UpdateRefused::AlreadyResolved) => UpdateOutcome::AlreadyResolved,
            Err(UpdateRefused::Invalid(error)) => {
                UpdateOutcome::Invalid { field: error.field.to_owned(), reason: error.reason }
            }
        })
    }
}

impl StatusMonitor {
    /// Merges each cell into its hourly and daily bucket, and drops buckets
    /// past the longest window.
    fn merge_latency(&self, batch: &MergeLatency) -> Result<u32> {
        #[derive(Deserialize)]
        struct Row {
            sketch: String,
        }
        for cell in &batch.cells {
            let incoming = Sketch::decode(&cell.sketch).map_err(worker::Error::from)?;
            for resolution in latency::Resolution::ALL {
                let bucket = sql_int(latency::bucket_of(cell.hour, resolution))?;
                let key = vec![resolution.as_str().into(), bucket.clone(), cell.series.as_str().into()];
                let stored = self
                    .sql
                    .exec("SELECT sketch FROM latency WHERE resolution = ? AND bucket = ? AND series = ?", key)?
                    .to_array::<Row>()?;
                let mut merged = match stored.first().map(|row| Sketch::decode(&row.sketch)) {
                    Some(Ok(sketch)) => sketch,
                    Some(Err(error)) => {
                        worker::console_error!("latency bucket {bucket:?} of {} replaced: {error}", cell.series);
                        Sketch::default()
                    }
                    None => Sketch::default(),
                };
                merged.merge(&incoming);
                self.sql.exec(
                    "INSERT OR REPLACE INTO latency (resolution, bucket, series, sketch) VALUES (?, ?, ?, ?)",
                    vec![resolution.as_str().into(), bucket, cell.series.as_str().into(), merged.encode().into()],
                )?;
            }
        }
        let now = now_ms() / 1000;
        for resolution in latency::Resolution::ALL {
            let oldest = now.saturating_sub(resolution.kept_seconds()) / resolution.seconds();
            self.sql.exec(
                "DELETE FROM latency WHERE resolution = ? AND bucket < ?",
                vec![resolution.as_str().into(), sql_int(oldest)?],
            )?;
        }
        u32::try_from(batch.cells.len()).map_err(|_| worker::Error::from("batch too large"))
    }

    /// The percentiles of the last `hours`, merged from the buckets that cover them.
    fn latency(&self, hours: u64) -> Result<latency::LatencyReport> {
        #[derive(Deserialize)]
        struct Row {
            bucket: i64,
            series: String,
            sketch: String,
        }
        let resolution = latency::resolution_for(hours);
        let first = latency::first_bucket(hours, now_ms() / 1000, resolution);
        let rows = self
            .sql
            .exec(
                "SELECT bucket, series, sketch FROM latency WHERE resolution = ? AND bucket >= ?",
                vec![resolution.as_str().into(), sql_int(first)?],
            )?
            .to_array::<Row>()?;
        let cells: Vec<(u64, String, Sketch)> = rows
            .into_iter()
            .filter_map(|row| match Sketch::decode(&row.sketch) {
                Ok(sketch) => Some((row.bucket.unsigned_abs(), row.series, sketch)),
                Err(error) => {
                    worker::console_error!("latency bucket of {} skipped: {error}", row.series);
                    None
                }
            })
            .collect();
        Ok(latency::report(hours, resolution, first, &cells))
    }
}

/// The worker side of the health probe: records `record` in the global monitor.
pub async fn record_probe(env: &Env, record: &ProbeRecord) -> std::result::Result<DurableObjectProbe, String> {
    let round_trip = async {
        let stub = bindings::stub(env, bindings::STATUS_MONITOR, "global")?;
        send(stub, record.clone()).await
    };
    round_trip.await.map_err(|e| e.to_string())
}

/// Asks the global monitor the status question `command`.
pub async fn ask<C>(env: &Env, command: C) -> std::result::Result<C::Reply, crate::error::ApiError>
where
    C: partner_edge::object::Command<Envelope = StatusCommand>,
{
    let stub = bindings::stub(env, bindings::STATUS_MONITOR, "global")?;
    Ok(send(stub, command).await?)
}
