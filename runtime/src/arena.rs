//! The buffers of one compiled model: one allocation, carved up by the compile-time memory
//! plan. Steps write inputs in place and launch kernels over these buffers; nothing is
//! allocated on the device after `new`.

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

/// Every buffer a trainer uses: views into one allocation, placed at compile time.
pub struct Arena {
    client: Client,
    buffers: Vec<Handle>,
    lens: Vec<usize>,
    /// Units per cube: the runtime's maximum, capped at 256 (on the CPU runtime each unit is a
    /// worker thread, one per core).
    units: usize,
    /// Whether [`Arena::drain_queue`] waits: on the CPU runtime only.
    drains: bool,
    /// Reads completed, each of which waited for every write queued before it (see [`Upload`]).
    reads: Arc<AtomicU64>,
    /// The bytes [`Arena::write_input`] last wrote to each slot, if it wrote any.
    inputs: RefCell<Vec<Option<Vec<u8>>>>,
    /// Not `Sync`: reads and uploads come from one thread at a time, which is what lets a read
    /// vouch for the uploads queued before it.
    _one_thread: PhantomData<Cell<()>>,
}

/// Cubes a chunked launch uses on the CPU runtime: each of its worker threads runs this many
/// units, each over a contiguous chunk of the work. A unit's start costs about as much as a few
/// elements of a scalar kernel (`KILN_PROFILE=20 step_time lenet5`: see the README).
const CPU_CUBES_PER_CHUNKED_LAUNCH: usize = 8;

impl Arena {
    /// Allocates one zero-filled arena of `bytes` on `device`, holding buffers at
    /// `(offset, len)` 4-byte units each: f32 or u32 elements, pairs of half floats or halves
    /// of f64s (the generated memory plan).
    pub fn new(device: &Device, bytes: usize, buffers: &[(usize, usize)]) -> Self {
        let lens = buffers.iter().map(|&(_, len)| len).collect();
        let client = device.client();
        let arena = client.create_from_slice(&vec![0u8; bytes.max(4)]);
        let total = bytes.max(4) as u64;
        let buffers: Vec<Handle> = buffers
            .iter()
            .map(|&(offset, len)| {
                let (start, end) = (4 * offset as u64, 4 * (offset + len.max(1)) as u64);
                assert!(end <= total, "internal: buffer at {offset}+{len} outside an arena of {bytes} bytes");
                arena.clone().offset_start(start).offset_end(total - end)
            })
            .collect();
        let units = (client.properties().hardware.max_units_per_cube as usize).clamp(1, 256);
        #[cfg(feature = "cpu")]
        let drains = matches!(device, Device::Cpu(_));
        #[cfg(not(feature = "cpu"))]
        let drains = false;
        let inputs = RefCell::new(vec![None; buffers.len()]);
        Arena { client, buffers, lens, units, drains, reads: Arc::default(), inputs, _one_thread: PhantomData }
    }

    /// The client kernels are launched on.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Buffer `slot` as a kernel argument of `len` elements (vectors for vector arguments).
    pub fn arg(&self, slot: usize, len: usize) -> BufferArg {
        // SAFETY: generated code passes the length the buffer was allocated with (in elements
        // of the argument's type), and kernels index only below their static bounds.
        unsafe { BufferArg::from_raw_parts(self.buffers[slot].clone(), len) }
    }

    /// Cube count and cube size for `work` units.
    pub fn grid(&self, work: usize) -> (CubeCount, CubeDim) {
        let units = self.units.min(work.max(1));
        (CubeCount::new_1d(work.div_ceil(units) as u32), CubeDim::new_1d(units as u32))
    }

    /// Cube count and cube size for a generated kernel over `work` indices, whose units each
    /// loop over a contiguous chunk of them: a few units per core on the CPU runtime, one
    /// unit per index elsewhere.
    pub fn chunked_grid(&self, work: usize) -> (CubeCount, CubeDim) {
        if self.drains {
            self.grid(work.min(self.units * CPU_CUBES_PER_CHUNKED_LAUNCH))
        } else {
            self.grid(work)
        }
    }

    /// Waits for the launched kernels on the CPU runtime (a no-op elsewhere). Generated entry
    /// points call it every few launches: the CPU runtime slows down with the depth of its
    /// queue (`step_time reverser`, 738 launches a step: 298 ms with no waits, 8 to 11 ms
    /// waiting every 16 launches; see the README).
    pub fn drain_queue(&self) {
        if self.drains {
            // A failed sync means the device is gone; the next read reports that.
            let _ = cubecl::future::block_on(self.client.sync());
        }
    }

    /// Elements of type `T` buffer `slot` holds.
    fn elems<T>(&self, slot: usize) -> usize {
        4 * self.lens[slot] / std::mem::size_of::<T>()
    }

    /// Overwrites buffer `slot` with `data` (exactly its length in `T`s).
    pub fn write<T: bytemuck::Pod + Send + Sync>(&self, slot: usize, data: &[T]) {
        assert_eq!(data.len(), self.elems::<T>(slot), "internal: write of the wrong length to slot {slot}");
        self.client.write(&self.buffers[slot], Bytes::from_elems(data.to_vec()));
    }

    /// Overwrites buffer `slot`, one that only the host writes (a batch's sample weights, a
    /// learning rate), with `data`, unless the last `write_input` to it wrote the same bytes:
    /// most steps of a run write what the step before did. Each write skipped saves a queued
    /// task and a copy on the runtime's thread (`step_time mlp`: see the README).
    pub fn write_input<T: bytemuck::Pod + Send + Sync>(&self, slot: usize, data: &[T]) {
        let bytes = bytemuck::cast_slice::<T, u8>(data);
        let mut inputs = self.inputs.borrow_mut();
        if inputs[slot].as_deref() != Some(bytes) {
            self.write(slot, data);
            inputs[slot] = Some(bytes.to_vec());
        }
    }

    /// Writes `data` (float inputs or u32 labels) at the start of `slot` and zeroes the rest: a
    /// short last batch (padding rows get class 0; their loss weight is 0). The runtime reads
    /// `data` in place, with no host-side copy, before the next read returns or else before
    /// the returned [`Upload`] is dropped. On the CPU runtime the host-side copy of an MNIST
    /// batch (200 KB) took about 20 us, as the runtime's thread then read it from another core.
    ///
    /// # Safety
    ///
    /// The returned [`Upload`] must be dropped, not leaked (`std::mem::forget`): its drop is
    /// what keeps `data` alive and unchanged until the runtime has copied it.
    pub unsafe fn upload<'a, T: bytemuck::Pod>(&self, slot: usize, data: &'a [T]) -> Upload<'a> {
        let (len, capacity) = (std::mem::size_of_val(data), 4 * self.lens[slot] as u64);
        assert!(len as u64 <= capacity, "internal: write past the end of slot {slot}");
        let handle = &self.buffers[slot];
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
        Upload { client: self.client.clone(), reads: Arc::clone(&self.reads), reads_before: self.reads.load(Ordering::SeqCst), _data: PhantomData }
    }

    /// Reads buffer `slot` back to the host as `T`s (waits for the kernels that write it).
    pub fn read<T: bytemuck::Pod>(&self, slot: usize) -> Vec<T> {
        let bytes = self.client.read_one_unchecked(self.buffers[slot].clone());
        let mut values = vec![T::zeroed(); self.elems::<T>(slot)];
        bytemuck::cast_slice_mut::<T, u8>(&mut values).copy_from_slice(&bytes[..4 * self.lens[slot]]);
        self.reads.fetch_add(1, Ordering::SeqCst);
        values
    }
}

/// A write [`Arena::upload`] queued from the caller's memory: borrows that memory until
/// dropped. The runtime runs its tasks in order on one thread, so a read queued after the write
/// returns only once the write has copied from that memory and let go of it; the drop waits
/// (syncs) only if no read has completed since the upload. That sync costs about 17 us on the
/// CPU runtime, more than the copy it saves, so entry points read before their uploads drop.
#[must_use = "dropping an upload at once waits for the runtime to copy it"]
pub struct Upload<'a> {
    client: Client,
    reads: Arc<AtomicU64>,
    reads_before: u64,
    _data: PhantomData<&'a [u8]>,
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        if self.reads.load(Ordering::SeqCst) == self.reads_before {
            // A failed sync means the device is gone: the write ran or never will.
            let _ = cubecl::future::block_on(self.client.sync());
        }
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
