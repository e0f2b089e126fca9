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
mod foundation;
mod gate;

/// The edge most tests share, started on first use.
#[derive(Default)]
pub struct SharedEdge {
    cell: OnceLock<(Edge, tempfile::TempDir)>,
}

impl SharedEdge {
    pub fn get(&self) -> &Edge {
        &self.cell.get_or_init(Edge::spawn_fresh).0
    }
}

/// A test body that uses the shared edge.
pub type EdgeTest = fn(&Edge);

fn main() {
    let args = Arguments::from_args();
    let shared = Arc::new(SharedEdge::default());

    let mut trials = Vec::new();
    for (name, test) in
        foundation::SHARED_EDGE_TESTS.iter().chain(gate::SHARED_EDGE_TESTS).chain(backend::SHARED_EDGE_TESTS)
    {
        let shared = Arc::clone(&shared);
        trials.push(Trial::test(*name, move || {
            test(shared.get());
            Ok(())
        }));
    }
    for (name, test) in foundation::OWN_EDGE_TESTS.iter().chain(gate::OWN_EDGE_TESTS).chain(backend::OWN_EDGE_TESTS) {
        trials.push(Trial::test(*name, move || {
            test();
            Ok(())
        }));
    }

    let conclusion = libtest_mimic::run(&args, trials);
    if let Some((edge, _state)) = shared.cell.get() {
        edge.stop();
    }
    conclusion.exit();
}
