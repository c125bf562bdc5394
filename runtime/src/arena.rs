//! The buffers of one compiled model: one allocation, carved up by the compile-time memory
//! plan, beside the 4-byte counter balanced kernels claim tiles from. Steps write inputs in
//! place and launch kernels over these buffers; nothing is allocated on the device after `new`.

use crate::host_copy::HostCopier;
use crate::replay::Replays;
use crate::Device;
use cubecl::bytes::{AccessError, AccessPolicy, AllocationController, AllocationProperty, Bytes};
use cubecl::client::Client;
use cubecl::prelude::*;
use cubecl::server::Handle;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Every buffer a trainer uses: views into one allocation, placed at compile time. Not `Sync`:
/// reads and uploads come from one thread at a time, which is what lets a read vouch for the
/// uploads queued before it, and the `idle` flag for the tasks queued before it.
pub struct Arena {
    client: Client,
    /// The whole allocation, of `bytes` bytes, which buffers are views into.
    whole: Handle,
    bytes: u64,
    /// Each buffer's view: the memory plan's, except a stepped loop's windows while it runs.
    buffers: RefCell<Vec<Handle>>,
    /// Each buffer's `(offset, len)` in 4-byte units: the memory plan.
    plan: Vec<(usize, usize)>,
    /// Units per cube: the runtime's maximum, capped at 256 (on the CPU runtime each unit is a
    /// worker thread, one per core).
    units: usize,
    /// The arena's memory, on the CPU runtime (where device memory is host memory): uploads
    /// copy into it on the caller's thread. `None` elsewhere.
    host: Option<HostMemory>,
    /// Whether every task queued through this arena has run: set by reads and waits, cleared
    /// by anything that queues one. Uploads into [`HostMemory`] wait for it.
    idle: Cell<bool>,
    /// Reads completed, each of which waited for every write queued before it (see [`Upload`]).
    reads: Arc<AtomicU64>,
    /// The bytes [`Arena::write_input`] last wrote to each slot, if it wrote any.
    inputs: RefCell<Vec<Option<Vec<u8>>>>,
    /// The longest of the sequence lengths last uploaded to each slot that holds lengths: the
    /// steps a loop over them runs (see [`crate::plan::Repeat::trips`]).
    longest: RefCell<Vec<usize>>,
    /// The counter from which balanced kernels' units claim tiles: one `u32`, zero between
    /// launches (see `kiln_kernels::claim_tiles`).
    claims: Handle,
    /// How uploads copy into [`HostMemory`]: the faster way on this machine.
    copier: HostCopier,
    /// The plans recorded to be replayed.
    replays: Replays,
}

/// Cubes a chunked launch uses on the CPU runtime: each of its worker threads runs this many
/// units, each over a contiguous chunk of the work. A unit's start costs about as much as a few
/// elements of a scalar kernel (`KILN_PROFILE=20 step_time lenet5`: see docs/performance.md).
const CPU_CUBES_PER_CHUNKED_LAUNCH: usize = 8;

impl Arena {
    /// Allocates one zero-filled arena of `bytes` on `device`, holding buffers at
    /// `(offset, len)` 4-byte units each: f32 or u32 elements, pairs of half floats or halves
    /// of f64s (the generated memory plan).
    pub fn new(device: &Device, bytes: usize, buffers: &[(usize, usize)]) -> Self {
        let plan = buffers.to_vec();
        let client = device.client();
        let whole = client.create_from_slice(&vec![0u8; bytes.max(4)]);
        let total = bytes.max(4) as u64;
        let buffers: Vec<Handle> = buffers.iter().map(|&(offset, len)| view(&whole, total, offset, len)).collect();
        let units = (client.properties().hardware.max_units_per_cube as usize).clamp(1, 256);
        let host = HostMemory::of(device, &client, whole.clone());
        let inputs = RefCell::new(vec![None; buffers.len()]);
        let longest = RefCell::new(vec![0; buffers.len()]);
        let claims = client.create_from_slice(&[0u8; 4]);
        Arena {
            client,
            whole,
            bytes: total,
            buffers: RefCell::new(buffers),
            plan,
            units,
            host,
            idle: Cell::new(false),
            reads: Arc::default(),
            inputs,
            longest,
            claims,
            copier: HostCopier::default(),
            replays: Replays::default(),
        }
    }

    /// The client kernels are launched on. Whatever the caller queues on it counts as work in
    /// flight over this arena until the next read or wait.
    pub fn client(&self) -> &Client {
        self.idle.set(false);
        &self.client
    }

    /// The plans recorded to be replayed. What they dispatch counts as work in flight over
    /// this arena until the next read or wait.
    pub(crate) fn replays(&self) -> &Replays {
        self.idle.set(false);
        &self.replays
    }

    /// Buffer `slot` as a kernel argument of `len` elements (vectors for vector arguments).
    pub fn arg(&self, slot: usize, len: usize) -> BufferArg {
        // SAFETY: generated code passes the length the buffer was allocated with (in elements
        // of the argument's type), and kernels index only below their static bounds.
        unsafe { BufferArg::from_raw_parts(self.buffers.borrow()[slot].clone(), len) }
    }

    /// Records that the sequence lengths just uploaded to `slot` are at most `longest`.
    pub fn set_longest(&self, slot: usize, longest: usize) {
        self.longest.borrow_mut()[slot] = longest;
    }

    /// The longest of the sequence lengths last uploaded to `slot` (0 before any).
    pub(crate) fn longest(&self, slot: usize) -> usize {
        self.longest.borrow()[slot]
    }

    /// Buffer `slot`'s offset in the memory plan, in 4-byte units.
    pub(crate) fn offset(&self, slot: usize) -> usize {
        self.plan[slot].0
    }

    /// Moves buffer `slot` to `offset` (4-byte units), keeping its length: a window of a
    /// stepped loop. Launches queued before keep the place they were given.
    pub(crate) fn place(&self, slot: usize, offset: usize) {
        self.buffers.borrow_mut()[slot] = view(&self.whole, self.bytes, offset, self.plan[slot].1);
    }

    /// Moves buffer `slot` back to its place in the memory plan.
    pub(crate) fn restore(&self, slot: usize) {
        self.place(slot, self.plan[slot].0);
    }

    /// Cube count and cube size for `work` units.
    pub fn grid(&self, work: usize) -> (CubeCount, CubeDim) {
        let units = self.units.min(work.max(1));
        (CubeCount::new_1d(work.div_ceil(units) as u32), CubeDim::new_1d(units as u32))
    }

    /// Cube count and cube size for one cube of as many units as the runtime allows in one:
    /// a phased kernel's, whose units split each phase and meet between phases.
    pub(crate) fn one_cube(&self) -> (CubeCount, CubeDim) {
        (CubeCount::new_1d(1), CubeDim::new_1d(self.units as u32))
    }

    /// Cube count and cube size for a balanced kernel over `work` tiles: one cube on the CPU
    /// runtime, whose units share the tiles out among themselves, else a unit per tile.
    pub(crate) fn balanced_grid(&self, work: usize) -> (CubeCount, CubeDim) {
        if self.host_memory() {
            self.one_cube()
        } else {
            self.grid(work)
        }
    }

    /// The counter balanced kernels claim tiles from, as a kernel argument.
    pub fn claims(&self) -> BufferArg {
        // SAFETY: the counter holds one u32, and kernels touch only its first.
        unsafe { BufferArg::from_raw_parts(self.claims.clone(), 1) }
    }

    /// Whether the arena lives in host memory (the CPU runtime): phased kernels pass it to
    /// `kernels::sync_units`, which needs a different barrier there.
    pub fn host_memory(&self) -> bool {
        self.host.is_some()
    }

    /// Cube count and cube size for a generated kernel over `work` indices, whose units each
    /// loop over a contiguous chunk of them: a few units per core on the CPU runtime, one
    /// unit per index elsewhere.
    pub(crate) fn chunked_grid(&self, work: usize) -> (CubeCount, CubeDim) {
        if self.host_memory() {
            self.grid(work.min(self.units * CPU_CUBES_PER_CHUNKED_LAUNCH))
        } else {
            self.grid(work)
        }
    }

    /// Waits for the launched kernels on the CPU runtime (a no-op elsewhere): [`Arena::run`]
    /// calls it every few launches.
    pub(crate) fn drain_queue(&self) {
        if self.host_memory() {
            self.wait();
        }
    }

    /// Waits for every task queued so far.
    fn wait(&self) {
        // A failed sync means the device is gone; the next read reports that.
        let _ = cubecl::future::block_on(self.client.sync());
        self.idle.set(true);
    }

    /// Elements of type `T` buffer `slot` holds.
    fn elems<T>(&self, slot: usize) -> usize {
        4 * self.plan[slot].1 / std::mem::size_of::<T>()
    }

    /// Overwrites buffer `slot` with zeros.
    pub(crate) fn zero(&self, slot: usize) {
        self.write(slot, &vec![0u32; self.plan[slot].1]);
    }

    /// Overwrites buffer `slot` with `data` (exactly its length in `T`s).
    pub fn write<T: bytemuck::Pod + Send + Sync>(&self, slot: usize, data: &[T]) {
        assert_eq!(data.len(), self.elems::<T>(slot), "internal: write of the wrong length to slot {slot}");
        self.idle.set(false);
        self.client.write(&self.buffers.borrow()[slot], Bytes::from_elems(data.to_vec()));
    }

    /// Overwrites buffer `slot`, one that only the host writes (a batch's sample weights, a
    /// learning rate), with `data`, unless the last `write_input` to it wrote the same bytes:
    /// most steps of a run write what the step before did. Each write skipped saves a queued
    /// task and a copy on the runtime's thread (`step_time mlp`: see docs/performance.md).
    pub fn write_input<T: bytemuck::Pod + Send + Sync>(&self, slot: usize, data: &[T]) {
        let bytes = bytemuck::cast_slice::<T, u8>(data);
        let mut inputs = self.inputs.borrow_mut();
        if inputs[slot].as_deref() != Some(bytes) {
            self.write(slot, data);
            inputs[slot] = Some(bytes.to_vec());
        }
    }

    /// Writes `data` (float inputs or u32 labels) at the start of `slot` and zeroes the rest: a
    /// short last batch (padding rows get class 0; their loss weight is 0).
    ///
    /// On the CPU runtime this thread copies `data` into the arena at once, after waiting for
    /// any work still queued over the arena (generated entry points end with a read, so there
    /// is none), with plain or non-temporal stores, whichever its first large uploads ran
    /// faster (see `host_copy`). The runtime's own thread copied an MNIST batch (200 KB) in
    /// about 37 us, from this core's cache to another, before any kernel could start
    /// (`step_time mlp`: see docs/performance.md). Elsewhere the runtime reads `data` in place, with no
    /// host-side copy, before the next read returns or else before the returned [`Upload`] is
    /// dropped.
    ///
    /// # Safety
    ///
    /// The returned [`Upload`] must be dropped, not leaked (`std::mem::forget`): its drop is
    /// what keeps `data` alive and unchanged until the runtime has copied it.
    pub unsafe fn upload<'a, T: bytemuck::Pod>(&self, slot: usize, data: &'a [T]) -> Upload<'a> {
        let (len, capacity) = (std::mem::size_of_val(data), 4 * self.plan[slot].1 as u64);
        assert!(len as u64 <= capacity, "internal: write past the end of slot {slot}");
        if let Some(host) = &self.host {
            self.copy_in(host, slot, bytemuck::cast_slice(data));
            return Upload { wait: None, _data: PhantomData };
        }
        self.idle.set(false);
        let handle = &self.buffers.borrow()[slot].clone();
        if (len as u64) < capacity {
            let zeros = Bytes::from_elems(vec![0u8; (capacity - len as u64) as usize]);
            self.client.write(&handle.clone().offset_start(len as u64), zeros);
        }
        if len > 0 {
            let borrowed = Borrowed { start: data.as_ptr().cast(), len };
            // SAFETY: `Borrowed` reads `data` (`len` initialized bytes), which the returned
            // `Upload` borrows until it is dropped (the caller's promise), and its drop waits
            // for the write (see there).
            let bytes = unsafe { Bytes::from_controller(Box::new(borrowed), len) };
            self.client.write(&handle.clone().offset_end(capacity - len as u64), bytes);
        }
        let wait = UploadWait {
            client: self.client.clone(),
            reads: Arc::clone(&self.reads),
            reads_before: self.reads.load(Ordering::SeqCst),
        };
        Upload { wait: Some(wait), _data: PhantomData }
    }

    /// Copies `bytes` to the start of `slot` in the arena's host memory and zeroes the rest,
    /// once no task queued through the arena is pending.
    fn copy_in(&self, host: &HostMemory, slot: usize, bytes: &[u8]) {
        if !self.idle.get() {
            self.wait();
        }
        let (offset, len) = self.plan[slot];
        // SAFETY: the arena is idle (tasks queued through other arenas never touch it), and the
        // slot lies inside it.
        let (filled, rest) = unsafe { host.bytes_mut(4 * offset, 4 * len) }.split_at_mut(bytes.len());
        self.copier.copy(filled, bytes);
        rest.fill(0);
    }

    /// Whether uploads into host memory (the CPU runtime) use non-temporal stores, once the
    /// first large uploads have timed both ways (see `host_copy`); `None` before that.
    pub fn streaming_uploads(&self) -> Option<bool> {
        self.copier.choice()
    }

    /// Reads buffer `slot` back to the host as `T`s (waits for the kernels that write it).
    pub fn read<T: bytemuck::Pod>(&self, slot: usize) -> Vec<T> {
        let bytes = self.client.read_one_unchecked(self.buffers.borrow()[slot].clone());
        let mut values = vec![T::zeroed(); self.elems::<T>(slot)];
        bytemuck::cast_slice_mut::<T, u8>(&mut values).copy_from_slice(&bytes[..4 * self.plan[slot].1]);
        self.reads.fetch_add(1, Ordering::SeqCst);
        // On the CPU runtime a read returns once every queued task has run.
        self.idle.set(self.host.is_some());
        values
    }
}

/// The `len` 4-byte units at unit `offset` of `whole`, an allocation of `bytes` bytes.
fn view(whole: &Handle, bytes: u64, offset: usize, len: usize) -> Handle {
    let (start, end) = (4 * offset as u64, 4 * (offset + len.max(1)) as u64);
    assert!(end <= bytes, "internal: buffer at {offset}+{len} outside an arena of {bytes} bytes");
    whole.clone().offset_start(start).offset_end(bytes - end)
}

/// A write [`Arena::upload`] queued from the caller's memory: borrows that memory until
/// dropped. The runtime runs its tasks in order on one thread, so a read queued after the write
/// returns only once the write has copied from that memory and let go of it; the drop waits
/// (syncs) only if no read has completed since the upload, so entry points read before their
/// uploads drop. On the CPU runtime `upload` has already copied, and the drop does nothing.
#[must_use = "dropping an upload at once waits for the runtime to copy it"]
pub struct Upload<'a> {
    /// What the drop waits on, if the runtime still reads the caller's memory.
    wait: Option<UploadWait>,
    _data: PhantomData<&'a [u8]>,
}

/// The reads an [`Upload`] checks for before its drop waits.
struct UploadWait {
    client: Client,
    reads: Arc<AtomicU64>,
    reads_before: u64,
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        if let Some(wait) = &self.wait {
            if wait.reads.load(Ordering::SeqCst) == wait.reads_before {
                // A failed sync means the device is gone: the write ran or never will.
                let _ = cubecl::future::block_on(wait.client.sync());
            }
        }
    }
}

/// The arena's memory on the CPU runtime, where the host can write it directly.
struct HostMemory {
    /// The arena's first byte.
    start: *mut u8,
    /// The runtime's resource for the arena: holding it keeps the memory allocated and in place.
    _resource: Box<dyn std::any::Any + Send>,
}

// SAFETY: the memory belongs to the runtime's resource, which is `Send` and moves with it; the
// arena that owns this writes through the pointer from one thread at a time.
unsafe impl Send for HostMemory {}

impl HostMemory {
    /// The memory of `arena` if `device` is the CPU runtime's.
    #[allow(unused_variables)]
    fn of(device: &Device, client: &Client, arena: Handle) -> Option<HostMemory> {
        #[cfg(feature = "cpu")]
        if matches!(device, Device::Cpu(_)) {
            let resource = client
                .get_resource::<cubecl::cpu::compute::server::CpuServer>(arena)
                .expect("internal: the CPU runtime's arena has host memory");
            let (start, _) = resource.resource().get_write_ptr_and_length();
            return Some(HostMemory { start, _resource: Box::new(resource) });
        }
        None
    }

    /// The `len` bytes at byte `offset`.
    ///
    /// # Safety
    ///
    /// `offset + len` is within the arena, and no kernel or queued task touches those bytes
    /// until the returned slice is dropped.
    #[allow(clippy::mut_from_ref)]
    unsafe fn bytes_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        // SAFETY: the caller's promise; the resource keeps the memory alive.
        unsafe { std::slice::from_raw_parts_mut(self.start.add(offset), len) }
    }
}

/// The caller's data as [`Arena::upload`] hands it to the runtime: read in place.
struct Borrowed {
    start: *const u8,
    len: usize,
}

impl AllocationController for Borrowed {
    fn alloc_align(&self) -> usize {
        1
    }

    fn property(&self) -> AllocationProperty {
        AllocationProperty::Native
    }

    unsafe fn memory_mut(&mut self, _policy: AccessPolicy) -> Result<&mut [MaybeUninit<u8>], AccessError> {
        // The caller's data is borrowed immutably: never written through here.
        Err(AccessError::WouldCopy)
    }

    fn memory(&self, _policy: AccessPolicy) -> Result<&[MaybeUninit<u8>], AccessError> {
        // SAFETY: `start..start + len` is the borrowed data (see `Arena::upload`).
        Ok(unsafe { std::slice::from_raw_parts(self.start.cast(), self.len) })
    }
}
