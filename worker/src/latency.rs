//! Request latencies, recorded in the isolate: each answer adds its time to
//! this isolate's [`Recorder`] (no I/O), and a batch that is due is handed to
//! the `StatusMonitor` after the answer has gone (`waitUntil`). Partners never
//! wait on it; an isolate that is evicted loses at most one batch interval.

use std::cell::{Cell, RefCell};

use partner_edge::latency::{api_series, MergeLatency, Recorder};
use worker::{Context, Env};

use crate::http::now_ms;

/// A batch is handed over once it holds this many values, whatever its age.
const MAX_VALUES: u64 = 10_000;

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
    /// The settings, read once per isolate: `None` before, `Some(None)` when off.
    static SETTINGS: Cell<Option<Option<u64>>> = const { Cell::new(None) };
}

fn settings(env: &Env) -> Option<u64> {
    if let Some(settings) = SETTINGS.get() {
        return settings;
    }
    let settings = crate::config::latency_recording(env).unwrap_or_else(|error| {
        worker::console_error!("latency recording is off: {error:?}");
        None
    });
    SETTINGS.set(Some(settings));
    settings
}

/// Records one answered request of `family` with `status`, started at `started_ms`.
pub fn record(env: &Env, ctx: &Context, family: &str, status: u16, started_ms: u64) {
    let Some(flush_secs) = settings(env) else { return };
    let now = now_ms();
    let elapsed = now.saturating_sub(started_ms) as f64;
    let due = RECORDER.with_borrow_mut(|recorder| {
        recorder.record(&api_series(family, status), elapsed, now);
        recorder.is_due(now, flush_secs * 1000, MAX_VALUES).then(|| recorder.take())
    });
    if let Some(batch) = due {
        let env = env.clone();
        ctx.wait_until(async move { hand_over(&env, batch).await });
    }
}

/// Merges `batch` into the monitor's buckets; a failure is logged, not retried.
pub async fn hand_over(env: &Env, batch: MergeLatency) {
    if batch.cells.is_empty() {
        return;
    }
    if let Err(error) = crate::status_monitor::ask(env, batch).await {
        worker::console_error!("latency batch lost: {error:?}");
    }
}
