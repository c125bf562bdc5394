//! The buffers of one compiled model: one allocation, carved up by the compile-time memory
//! plan. Steps write inputs in place and launch kernels over these buffers; nothing is
//! allocated on the device after `new`.

use crate::Device;
use cubecl::client::Client;
use cubecl::bytes::Bytes;
use cubecl::prelude::*;
use cubecl::server::Handle;

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
        let buffers = buffers
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
        Arena { client, buffers, lens, units, drains }
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

    /// Writes `data` (float inputs or u32 labels) at the start of `slot` and zeroes the rest: a
    /// short last batch (padding rows get class 0; their loss weight is 0).
    pub fn write_padded<T: bytemuck::Pod + Default + Send + Sync>(&self, slot: usize, data: &[T]) {
        // Filled once: copied, then zeroed past the data (not zeroed first).
        let len = self.elems::<T>(slot);
        let mut padded = Vec::with_capacity(len);
        padded.extend_from_slice(data);
        padded.resize(len, T::default());
        self.client.write(&self.buffers[slot], Bytes::from_elems(padded));
    }

    /// Reads buffer `slot` back to the host as `T`s (waits for the kernels that write it).
    pub fn read<T: bytemuck::Pod>(&self, slot: usize) -> Vec<T> {
        let bytes = self.client.read_one_unchecked(self.buffers[slot].clone());
        let mut values = vec![T::zeroed(); self.elems::<T>(slot)];
        bytemuck::cast_slice_mut::<T, u8>(&mut values).copy_from_slice(&bytes[..4 * self.lens[slot]]);
        values
    }
}
