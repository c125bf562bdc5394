//! The CPU runtime's fixed costs, the part of a train step that is not kernel work: a read,
//! writes and uploads, and launches of a kernel that does almost nothing, each followed by a
//! sync or a read. Prints
//! the median microseconds of `rounds` repetitions per case (after 50 warm-up ones).
//! `step_time softmax` shows the same costs in a whole step (4 small kernels, 4 uploads).
//!
//! `cargo run --release -p kiln-benches --example overhead -- [rounds]`

use cubecl::prelude::*;
use kiln_runtime::cubecl;
use kiln_runtime::Arena;
use std::time::Instant;

/// Adds 1 to each of `out`'s elements: next to no work per launch.
#[cube(launch_unchecked)]
fn increment(out: &mut [f32]) {
    if ABSOLUTE_POS < out.len() {
        out[ABSOLUTE_POS] += 1.0;
    }
}

/// Prints the median microseconds of `rounds` calls of `case`.
fn report(name: &str, rounds: usize, mut case: impl FnMut()) {
    for _ in 0..50 {
        case();
    }
    let mut micros: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            case();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    println!("{name:<44} {:7.1} us", micros[rounds / 2]);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(3000).max(1);
    let device = kiln_runtime::Device::cpu().map_err(|e| format!("{e:?}"))?;
    // Slots: an MNIST batch of 64 images, 64 labels, one scalar, 640 floats for the kernel.
    let (image, label, scalar, work) = (0, 1, 2, 3);
    let arena = Arena::new(&device, 4 * (50176 + 64 + 1 + 640), &[(0, 50176), (50176, 64), (50240, 1), (50241, 640)]);
    let (images, labels) = (vec![0.5f32; 50176], vec![1u32; 64]);
    let client = arena.client();
    let sync = || cubecl::future::block_on(client.sync()).expect("sync");
    // The 640 elements as 640 / `units` cubes of `units` units, one element each.
    let launch = |units: u32| unsafe {
        increment::launch_unchecked(
            client,
            CubeCount::new_1d(640 / units),
            CubeDim::new_1d(units),
            arena.arg(work, 640),
        )
    };

    report("sync", rounds, sync);
    report("read a scalar", rounds, || drop(arena.read::<f32>(scalar)));
    report("write a scalar + sync", rounds, || {
        arena.write(scalar, &[0.1f32]);
        sync();
    });
    report("write 64 images (200 KB, a copy) + sync", rounds, || {
        arena.write(image, &images);
        sync();
    });
    report("upload 64 images + read a scalar", rounds, || {
        // SAFETY (here and below): each upload is dropped at the end of its round.
        let _upload = unsafe { arena.upload(image, &images) };
        drop(arena.read::<f32>(scalar));
    });
    println!(
        "(uploads chose {} stores)",
        match arena.streaming_uploads() {
            Some(true) => "non-temporal",
            Some(false) => "plain",
            None => "no way of",
        }
    );
    for units in [1, 2] {
        report(&format!("launch, {units} unit(s) a cube + sync"), rounds, || {
            launch(units);
            sync();
        });
    }
    report("4 launches + read a scalar", rounds, || {
        (0..4).for_each(|_| launch(2));
        drop(arena.read::<f32>(scalar));
    });
    report("4 uploads + 4 launches + read a scalar", rounds, || {
        let (_images, _labels) = unsafe { (arena.upload(image, &images), arena.upload(label, &labels)) };
        arena.write(scalar, &[0.1f32]);
        arena.write(scalar, &[0.1f32]);
        (0..4).for_each(|_| launch(2));
        drop(arena.read::<f32>(scalar));
    });
    Ok(())
}
