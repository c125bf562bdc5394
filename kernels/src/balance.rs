//! How the units of a balanced kernel split its tiles. On the CPU runtime (`host_memory`) the
//! kernel is one cube, a unit per worker thread: each unit computes a static share of three
//! quarters of the tiles, then claims the rest chunk by chunk from a counter the units share,
//! so a unit that starts late (its core was dispatching the launch) or runs slow computes
//! fewer tiles instead of making the others wait. Elsewhere each unit computes one tile.
//!
//! A kernel computes tiles `share_start(..)..share_end(..)` (none where there are fewer tiles
//! than units), then claims chunks until refused: `start = claim_tiles(..)`, stopping at
//! `start >= tiles`, else computing `start..min(start + chunk, tiles)`.

// `#[cube]` generates an expansion per function, without docs.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// The first tile of this unit's static share (on the CPU runtime), or its own tile.
#[cube]
pub fn share_start(tiles: usize, #[comptime] host_memory: bool) -> usize {
    let mut start = ABSOLUTE_POS;
    if host_memory {
        start = usize::cast_from(UNIT_POS) * static_share(tiles);
    }
    start
}

/// The tile after this unit's static share (on the CPU runtime), or after its own tile
/// (`share_start` itself where that is past the last).
#[cube]
pub fn share_end(tiles: usize, #[comptime] host_memory: bool) -> usize {
    let mut end = ABSOLUTE_POS;
    if host_memory {
        end = (usize::cast_from(UNIT_POS) + 1) * static_share(tiles);
    } else if end < tiles {
        end += 1;
    }
    end
}

/// The first tile of the next chunk of `chunk` tiles this unit claims: `tiles` or more once
/// none is left, and always off the CPU runtime. Each unit claims until it is refused, so the
/// launch's last claim is known: the unit that makes it resets `claims[0]` for the next launch
/// (the runtime orders launches, so nothing else touches the counter meanwhile).
#[cube]
pub fn claim_tiles(claims: &[Atomic<u32>], tiles: usize, chunk: usize, #[comptime] host_memory: bool) -> usize {
    let mut start = tiles;
    if host_memory {
        let units = usize::cast_from(CUBE_DIM);
        let shared = units * static_share(tiles);
        let claim = usize::cast_from(claims[0].fetch_add(1u32));
        start = shared + claim * chunk;
        if start >= tiles {
            let chunks = (tiles - shared).div_ceil(chunk);
            if claim + 1 == chunks + units {
                claims[0].store(0u32);
            }
        }
    }
    start
}

/// The tiles each unit computes before it claims any: three quarters of them, split evenly.
#[cube]
fn static_share(tiles: usize) -> usize {
    tiles * 3 / (4 * usize::cast_from(CUBE_DIM))
}
