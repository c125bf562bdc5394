//! kiln: launches recorded as the calling thread dispatches them, and dispatched again without
//! the launch path. A launch through a client hashes its kernel id (the whole comptime
//! descriptor) several times, resolves its bindings and passes through the stream scheduler;
//! a replayed one only sends its units to the workers, with the buffer addresses and metadata
//! it had when recorded.

use std::cell::RefCell;

use cubecl_core::CubeDim;
use cubecl_llvm::{PlironData, PlironEngine};

use crate::compute::threadpool::Threadpool;

thread_local! {
    /// The launches this thread has dispatched since [`start`], while it records.
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// A recording under way.
struct Recorder {
    launches: Vec<Recorded>,
    /// False once a launch that cannot be replayed was dispatched: one with shared memory,
    /// whose blocks are reserved for each launch.
    replayable: bool,
}

/// One recorded launch.
struct Recorded {
    engine: PlironEngine,
    /// The data of its first dispatch: the buffer addresses and metadata a replay reuses, and
    /// the resources that keep those buffers allocated while the recording lives.
    data: PlironData,
    cube_dim: CubeDim,
}

/// Launches recorded between [`start`] and [`finish`] on one thread.
pub struct Recording {
    launches: Vec<Recorded>,
}

// SAFETY: the recorded buffer addresses belong to resources the recording holds, which are
// `Send`; a replay only passes them to the workers, as the first dispatch did.
unsafe impl Send for Recording {}

/// Starts recording the launches this thread dispatches (dropping any recording it left
/// unfinished). They still run as usual.
pub fn start() {
    RECORDER.with(|recorder| {
        *recorder.borrow_mut() = Some(Recorder {
            launches: Vec::new(),
            replayable: true,
        })
    });
}

/// Ends this thread's recording: `None` if none was started or if it recorded a launch that
/// cannot be replayed.
pub fn finish() -> Option<Recording> {
    let recorder = RECORDER.with(|recorder| recorder.borrow_mut().take())?;
    recorder.replayable.then_some(Recording {
        launches: recorder.launches,
    })
}

/// Adds a launch being dispatched to this thread's recording, if it records.
pub(crate) fn record(engine: &PlironEngine, data: &PlironData, cube_dim: CubeDim) {
    RECORDER.with(|recorder| {
        if let Some(recorder) = recorder.borrow_mut().as_mut() {
            recorder.replayable &= engine.requirements().shared_memories.blocks.is_empty();
            recorder.launches.push(Recorded {
                engine: engine.clone(),
                data: data.clone(),
                cube_dim,
            });
        }
    });
}

impl Recording {
    /// The launches recorded.
    pub fn len(&self) -> usize {
        self.launches.len()
    }

    /// Whether it recorded no launch.
    pub fn is_empty(&self) -> bool {
        self.launches.is_empty()
    }

    /// Dispatches the recorded launches again, in order after everything dispatched before,
    /// waiting for the workers to finish all dispatched launches before every `wait_every`th.
    ///
    /// # Safety
    ///
    /// Every buffer the launches used is where it was when they were recorded (their
    /// resources keep it allocated, not in place), and the launches may run on its contents
    /// as they are now.
    pub unsafe fn replay(&self, wait_every: usize) {
        let pool = Threadpool::get();
        for (i, launch) in self.launches.iter().enumerate() {
            if i > 0 && i % wait_every.max(1) == 0 {
                Threadpool::wait_for_dispatched(pool);
            }
            // Fresh data for each dispatch: its barrier counters belong to one launch.
            let shared = &launch.data.shared;
            let builtins = launch.data.builtins;
            let data = PlironData::new(
                shared.buffer_ptrs.clone(),
                shared.metadata.clone(),
                [builtins[0], builtins[1], builtins[2]],
                Vec::new(),
            );
            pool.lock()
                .dispatch(launch.engine.clone(), data, launch.cube_dim);
        }
    }
}
