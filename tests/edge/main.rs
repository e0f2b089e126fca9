//! The end-to-end suite: one binary, one shared edge on fresh state, and
//! tests that need their own edge (restarts) start one themselves.
//!
//! Uses libtest-mimic so the shared `wrangler dev` is stopped after the last
//! test instead of outliving the process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Trial};
use partner_edge_tests::Edge;

mod backend;
mod contract;
mod foundation;
mod gate;
mod hardening;
mod lifecycle;
mod public;
mod simulator;
mod status;
mod webhooks;

/// An edge tests share, started on first use with its extra variables.
#[derive(Default)]
pub struct SharedEdge {
    cell: OnceLock<(Edge, tempfile::TempDir)>,
    vars: &'static [(&'static str, &'static str)],
}

impl SharedEdge {
    pub fn with_vars(vars: &'static [(&'static str, &'static str)]) -> Self {
        Self { cell: OnceLock::new(), vars }
    }

    pub fn get(&self) -> &Edge {
        &self.cell.get_or_init(|| Edge::spawn_fresh_with(self.vars)).0
    }
}

/// A test body that uses the shared edge.
pub type EdgeTest = fn(&Edge);

fn main() {
    let args = Arguments::from_args();
    let shared = Arc::new(SharedEdge::default());
    let webhook_edge = Arc::new(SharedEdge::with_vars(webhooks::EDGE_VARS));

    let mut trials = Vec::new();
    for (name, test) in foundation::SHARED_EDGE_TESTS
        .iter()
        .chain(gate::SHARED_EDGE_TESTS)
        .chain(backend::SHARED_EDGE_TESTS)
        .chain(hardening::SHARED_EDGE_TESTS)
        .chain(lifecycle::SHARED_EDGE_TESTS)
        .chain(public::SHARED_EDGE_TESTS)
    {
        let shared = Arc::clone(&shared);
        trials.push(Trial::test(*name, move || {
            test(shared.get());
            Ok(())
        }));
    }
    for (name, test) in
        webhooks::SHARED_EDGE_TESTS.iter().chain(hardening::WEBHOOK_EDGE_TESTS).chain(simulator::SHARED_EDGE_TESTS)
    {
        let edge = Arc::clone(&webhook_edge);
        trials.push(Trial::test(*name, move || {
            test(edge.get());
            Ok(())
        }));
    }
    for (name, test) in foundation::OWN_EDGE_TESTS
        .iter()
        .chain(gate::OWN_EDGE_TESTS)
        .chain(backend::OWN_EDGE_TESTS)
        .chain(webhooks::OWN_EDGE_TESTS)
        .chain(hardening::OWN_EDGE_TESTS)
        .chain(contract::OWN_EDGE_TESTS)
        .chain(lifecycle::OWN_EDGE_TESTS)
        .chain(status::OWN_EDGE_TESTS)
    {
        trials.push(Trial::test(*name, move || {
            test();
            Ok(())
        }));
    }

    let conclusion = libtest_mimic::run(&args, trials);
    for edge in [&shared, &webhook_edge] {
        if let Some((edge, _state)) = edge.cell.get() {
            edge.stop();
        }
    }
    conclusion.exit();
}
