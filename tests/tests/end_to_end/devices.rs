//! Checks a test binary runs on each device it has: the end-to-end tests on the CPU runtime,
//! the backend tests (`tests/backends`) on wgpu.

use kiln_runtime::{Arena, Device};

/// An upload pads a short batch with zeros, has copied the data before the caller may change
/// it, and lands after the writes queued before it: on the CPU runtime, which copies at once
/// after waiting for those writes, and on wgpu, which reads the caller's memory in place until
/// a read or the upload's drop waits for it.
pub fn uploads_pad_and_finish_before_their_source_changes(device: &Device, label: &str) {
    let arena = Arena::new(device, 4 * 9, &[(0, 8), (8, 1)]);
    arena.write(0, &[7.0f32; 8]);
    let mut data = vec![1.0f32, 2.0, 3.0];
    // SAFETY (here and below): each upload is dropped, not leaked.
    drop(unsafe { arena.upload(0, &data) });
    data.fill(9.0);
    assert_eq!(arena.read::<f32>(0), [1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0], "{label}: the drop waited");

    let mut data = vec![4.0f32; 8];
    let upload = unsafe { arena.upload(0, &data) };
    arena.read::<f32>(1);
    drop(upload);
    data.fill(9.0);
    assert_eq!(arena.read::<f32>(0), [4.0; 8], "{label}: the read waited");

    arena.write(0, &[5.0f32; 8]);
    drop(unsafe { arena.upload(0, &[6.0f32; 2]) });
    assert_eq!(
        arena.read::<f32>(0),
        [6.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "{label}: the queued write landed first"
    );
}
