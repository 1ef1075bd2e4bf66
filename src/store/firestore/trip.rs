//! Counting the calls an operation makes to Firestore one after another. On a real database
//! every call is a network round trip, so their number in sequence, not CPU, decides latency:
//! each operation counts its steps (calls made together count once) into
//! `livechat_store_calls_total{store="firestore",op}`, beside
//! `livechat_store_operations_total`.

use std::future::Future;

/// One operation's calls in sequence.
pub struct Trip {
    op: &'static str,
    steps: u64,
}

impl Trip {
    pub fn new(op: &'static str) -> Self {
        Self { op, steps: 0 }
    }

    /// Makes one step: `calls`, a single call or several joined, awaited together.
    pub async fn step<F: Future>(&mut self, calls: F) -> F::Output {
        self.steps += 1;
        calls.await
    }
}

impl Drop for Trip {
    fn drop(&mut self) {
        crate::telemetry::metrics::store_operation("firestore", self.op, self.steps);
    }
}
