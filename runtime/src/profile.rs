//! Per-kernel timing of generated entry points, enabled by `KILN_PROFILE=R`: each kernel is
//! launched `R` times in a row and then followed by a device sync, and the wall time divided by
//! `R` is added to a table that [`report`] prints. `R = 1` adds a sync's latency to every
//! kernel; a larger `R` spreads it, so small kernels are timed at their queued cost (kernels
//! then run `R` times, so the model trains differently while profiled). Off (the default), a
//! lap costs one branch.

use cubecl::client::Client;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// Launches per kernel: 0 when profiling is off.
fn repeats() -> usize {
    static REPEATS: OnceLock<usize> = OnceLock::new();
    *REPEATS.get_or_init(|| {
        let value = std::env::var("KILN_PROFILE").unwrap_or_default();
        match value.as_str() {
            "" | "0" => 0,
            v => v.parse().unwrap_or(1),
        }
    })
}

/// Whether `KILN_PROFILE` times kernels.
pub(crate) fn enabled() -> bool {
    repeats() > 0
}

/// Seconds and calls per kernel label.
static TABLE: Mutex<BTreeMap<String, (f64, u64)>> = Mutex::new(BTreeMap::new());

/// Times the kernels of one entry point call.
pub struct Profile {
    last: Option<Instant>,
    repeats: usize,
}

impl Profile {
    /// Starts timing on `client` (waits for earlier work) if `KILN_PROFILE` is set.
    pub fn start(client: &Client) -> Profile {
        let repeats = repeats();
        if repeats == 0 {
            return Profile { last: None, repeats: 1 };
        }
        sync(client);
        Profile { last: Some(Instant::now()), repeats }
    }

    /// How many times to launch each kernel: 1 unless profiling with `KILN_PROFILE=R`.
    pub fn launches(&self) -> usize {
        self.repeats
    }

    /// Waits for the kernel just launched and charges its time to `label` of `model`.
    pub fn lap(&mut self, client: &Client, model: &str, label: &str) {
        let Some(last) = self.last else { return };
        sync(client);
        let now = Instant::now();
        let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let entry = table.entry(format!("{model} {label}")).or_default();
        entry.0 += (now - last).as_secs_f64() / self.repeats as f64;
        entry.1 += 1;
        self.last = Some(now);
    }
}

fn sync(client: &Client) {
    // A failed sync means the device is gone; the next read reports that.
    let _ = cubecl::future::block_on(client.sync());
}

/// The table so far, slowest kernels first: milliseconds per call, share of the total, label.
pub fn report() -> String {
    let table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let total: f64 = table.values().map(|(s, _)| s).sum();
    let mut rows: Vec<(&String, &(f64, u64))> = table.iter().collect();
    rows.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    let mut out = format!("{:>10} {:>6}  kernel\n", "ms/call", "share");
    for (label, &(seconds, calls)) in rows {
        out +=
            &format!("{:>10.4} {:>5.1}%  {label}\n", 1e3 * seconds / calls as f64, 100.0 * seconds / total.max(1e-12));
    }
    out
}
