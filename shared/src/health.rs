//! The health report: what `/api/public/health` checks and how the results
//! combine into a verdict. The worker runs the probes and measures them; this
//! module decides what they mean.

use serde::{Deserialize, Serialize};

use crate::api::RequestId;

/// The KV key holding the most recent probe. Overwritten by each probe, so
/// its value also shows that KV state survived a restart.
pub const KV_PROBE_KEY: &str = "health:last-probe";

/// A probe as written to KV.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProbeRecord {
    pub request_id: RequestId,
    /// Unix milliseconds.
    pub at_ms: u64,
}

/// What the KV probe observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvProbe {
    /// The record the previous probe left, if any.
    pub previous: Option<ProbeRecord>,
    /// Whether reading the key right after writing it found a well-formed
    /// record. It may be a concurrent probe's rather than this one's: both
    /// prove the write landed and the read works.
    pub read_back_found: bool,
}

/// What the Durable Object probe observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DurableObjectProbe {
    /// Probes the status object has recorded since its state was created.
    pub probes_recorded: u64,
}

/// A probe's outcome as the worker measured it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured<T> {
    pub outcome: Result<T, String>,
    pub latency_ms: u32,
}

/// One check in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CheckResult {
    pub ok: bool,
    pub latency_ms: u32,
    /// Why the check failed; absent when it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct HealthChecks {
    /// A KV write followed by a read of the same key.
    pub kv: CheckResult,
    /// A round trip to the status Durable Object, which records the probe in SQLite.
    pub durable_object: CheckResult,
}

/// The body of a healthy answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct HealthReport {
    /// Always `"ok"` in a 200 answer.
    pub status: String,
    /// Unix milliseconds at which the probes started.
    pub checked_at_ms: u64,
    pub checks: HealthChecks,
    /// Probes recorded by the status Durable Object, this one included.
    pub probes_recorded: u64,
    /// The probe before this one, read from KV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_probe: Option<ProbeRecord>,
}

/// Why the edge is unhealthy: a sentence naming each failing check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unhealthy(pub String);

/// Combines the two probes into a report, or into a failure naming every
/// check that failed.
pub fn assess(
    checked_at_ms: u64,
    kv: Measured<KvProbe>,
    durable_object: Measured<DurableObjectProbe>,
) -> Result<HealthReport, Unhealthy> {
    let kv_outcome = kv.outcome.and_then(|probe| {
        if probe.read_back_found {
            Ok(probe)
        } else {
            Err("the key was missing right after it was written".to_owned())
        }
    });

    match (kv_outcome, durable_object.outcome) {
        (Ok(kv_probe), Ok(do_probe)) => Ok(HealthReport {
            status: "ok".to_owned(),
            checked_at_ms,
            checks: HealthChecks {
                kv: CheckResult { ok: true, latency_ms: kv.latency_ms, error: None },
                durable_object: CheckResult { ok: true, latency_ms: durable_object.latency_ms, error: None },
            },
            probes_recorded: do_probe.probes_recorded,
            previous_probe: kv_probe.previous,
        }),
        (kv_result, do_result) => {
            let failures: Vec<String> = [("kv", kv_result.err()), ("durable_object", do_result.err())]
                .into_iter()
                .filter_map(|(name, error)| error.map(|e| format!("{name} check failed: {e}")))
                .collect();
            Err(Unhealthy(failures.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv_ok(previous: Option<ProbeRecord>) -> Measured<KvProbe> {
        Measured { outcome: Ok(KvProbe { previous, read_back_found: true }), latency_ms: 3 }
    }

    fn do_ok(n: u64) -> Measured<DurableObjectProbe> {
        Measured { outcome: Ok(DurableObjectProbe { probes_recorded: n }), latency_ms: 4 }
    }

    #[test]
    fn both_probes_passing_gives_an_ok_report() {
        let previous = ProbeRecord { request_id: RequestId::from_random_bytes([2; 16]), at_ms: 10 };
        let report = assess(99, kv_ok(Some(previous.clone())), do_ok(7)).unwrap();
        assert_eq!(report.status, "ok");
        assert_eq!(report.checked_at_ms, 99);
        assert_eq!(report.probes_recorded, 7);
        assert_eq!(report.previous_probe, Some(previous));
        assert_eq!(report.checks.kv, CheckResult { ok: true, latency_ms: 3, error: None });
        assert_eq!(report.checks.durable_object.latency_ms, 4);
    }

    #[test]
    fn a_failing_probe_is_named_in_the_verdict() {
        let failing_do = Measured { outcome: Err("binding STATUS_MONITOR missing".into()), latency_ms: 0 };
        let verdict = assess(1, kv_ok(None), failing_do).unwrap_err();
        assert_eq!(verdict.0, "durable_object check failed: binding STATUS_MONITOR missing");
    }

    #[test]
    fn both_failures_are_reported_together() {
        let failing_kv = Measured { outcome: Err("put timed out".into()), latency_ms: 0 };
        let failing_do = Measured { outcome: Err("no such object".into()), latency_ms: 0 };
        let verdict = assess(1, failing_kv, failing_do).unwrap_err();
        assert_eq!(verdict.0, "kv check failed: put timed out; durable_object check failed: no such object");
    }

    #[test]
    fn a_missing_read_back_fails_the_kv_check() {
        let missing = Measured { outcome: Ok(KvProbe { previous: None, read_back_found: false }), latency_ms: 2 };
        let verdict = assess(1, missing, do_ok(1)).unwrap_err();
        assert_eq!(verdict.0, "kv check failed: the key was missing right after it was written");
    }

    #[test]
    fn probe_record_round_trips_through_kv_json() {
        let record = ProbeRecord { request_id: RequestId::from_random_bytes([9; 16]), at_ms: 1_700_000_000_000 };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<ProbeRecord>(&text).unwrap(), record);
        assert!(serde_json::from_str::<ProbeRecord>(r#"{"request_id":"nope","at_ms":1}"#).is_err());
    }
}
