//! Launch sequences replayed on the CPU runtime. Launching a kernel through CubeCL's client
//! hashes its kernel id (with the whole comptime descriptor of a template) several times,
//! resolves its bindings and schedules it on a stream: about 14 us of the caller's time a
//! launch, on a 2-core machine taken from a worker thread. An arena's buffers never move, so
//! the first run of a plan records what it dispatched (`cubecl-cpu`'s `recording`, a kiln
//! patch) and later runs dispatch the same again. Off with `KILN_REPLAY=off`, with
//! `KILN_PROFILE` (which times each launch), and off the CPU runtime.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::OnceLock;

#[cfg(feature = "cpu")]
use cubecl::cpu::compute::threadpool::recording::{self, Recording};

/// What a replay dispatches: nothing off the CPU runtime.
#[cfg(not(feature = "cpu"))]
enum Recording {}

/// An arena's recorded plans, by the plan's (or loop's) address and its launches (a loop's
/// grow with its trip count): `None` where the run could not be recorded (one launch reserved
/// shared memory, or the recording missed a launch), which then always launches.
#[derive(Default)]
pub(crate) struct Replays {
    recorded: RefCell<HashMap<(usize, usize), Option<Recording>>>,
}

thread_local! {
    /// This thread's choice, over `KILN_REPLAY`'s (see [`replay_on_this_thread`]).
    static CHOICE: Cell<Option<bool>> = const { Cell::new(None) };
    /// Launches replayed by this thread.
    static REPLAYED: Cell<u64> = const { Cell::new(0) };
}

/// Turns replays on or off for the plans this thread runs from now on, whatever `KILN_REPLAY`
/// says: to compare the two in one process.
pub fn replay_on_this_thread(on: bool) {
    CHOICE.with(|choice| choice.set(Some(on)));
}

/// The launches this thread has replayed so far.
pub fn replayed_on_this_thread() -> u64 {
    REPLAYED.with(Cell::get)
}

/// Whether this thread replays: its own choice, else unless `KILN_REPLAY=off`; never while
/// `KILN_PROFILE` times each launch.
fn allowed() -> bool {
    static BY_ENVIRONMENT: OnceLock<bool> = OnceLock::new();
    let by_environment = || *BY_ENVIRONMENT.get_or_init(|| std::env::var("KILN_REPLAY").map_or(true, |v| v != "off"));
    !crate::profile::enabled() && CHOICE.with(Cell::get).unwrap_or_else(by_environment)
}

impl Replays {
    /// Runs `launch`, which makes `launches` launches of the plan at `plan`, the first time
    /// (with `host_memory`, recording them), and replays that recording after, waiting for the
    /// queue every `wait_every` launches.
    ///
    /// # Safety
    /// Every call with one `plan` and `launches` launches the same kernels on the same
    /// buffers, in the same order, and those buffers stay in place while this lives.
    pub(crate) unsafe fn run(
        &self,
        plan: usize,
        launches: usize,
        wait_every: usize,
        host_memory: bool,
        launch: impl FnOnce(),
    ) {
        if !(host_memory && allowed()) {
            return launch();
        }
        let key = (plan, launches);
        match self.recorded.borrow().get(&key) {
            #[cfg(feature = "cpu")]
            // SAFETY: the caller's promise: the recorded buffers are in place.
            Some(Some(recording)) => {
                REPLAYED.with(|replayed| replayed.set(replayed.get() + recording.len() as u64));
                return unsafe { recording.replay(wait_every) };
            }
            Some(_) => return launch(),
            None => {}
        }
        #[cfg(not(feature = "cpu"))]
        let _ = wait_every;
        #[cfg(feature = "cpu")]
        recording::start();
        launch();
        #[cfg(feature = "cpu")]
        let recording = recording::finish().filter(|recording| recording.len() == launches);
        #[cfg(not(feature = "cpu"))]
        let recording = None;
        self.recorded.borrow_mut().insert(key, recording);
    }
}
