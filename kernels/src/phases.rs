//! The barrier between the phases of a kernel that one cube runs (kiln's phased kernels: a
//! loss, its gradient and a bias update in one launch, each phase split over the cube's units).

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// Waits until every unit of the cube gets here, with what each stored before it visible to
/// all. `host_memory`: the CPU runtime, whose cube barrier orders all memory and which has no
/// storage barrier; elsewhere a cube barrier orders only shared memory, so this is the storage
/// barrier.
#[cube]
pub fn sync_units(#[comptime] host_memory: bool) {
    if host_memory {
        sync_cube();
    } else {
        sync_storage();
    }
}
