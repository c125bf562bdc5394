//! Compiled kernels found by launch identity, before any compilation (kiln's change).
//!
//! The object cache is keyed by a kernel's LLVM IR, which only exists after CubeCL has
//! expanded the kernel, optimized its IR and lowered it: most of a warm process start. This
//! index skips all of that. Its key is what the runtime already uses to tell kernels apart in
//! memory (the kernel id's stable form, the buffer alignment and the compilation options),
//! together with the running executable's build id and the host. Within one executable the
//! same id expands to the same kernel, so a later start of the same build loads the kernel's
//! object directly. Each entry holds what compilation would have told the runtime besides
//! the object (entry point, cube size, scheduling requirements and buffer modes) and names
//! the object's own cache entry, which stays shared by every build that makes the same IR.

use super::{engine::KernelRequirements, object_cache};
use crate::{PlironEngine, shared::shared_memory::SharedMemoryBlock};
use cubecl_core::ir::settings::Dim3;
use cubecl_runtime::kernel::BufferIOAttr;
use std::io::{Read, Seek, SeekFrom};
use std::sync::OnceLock;

/// A kernel the index knew: what its compilation would have produced.
pub struct IndexedKernel {
    /// The kernel's entry point symbol.
    pub entrypoint: String,
    /// Units per cube.
    pub cube_dim: Dim3,
    /// The loaded kernel.
    pub engine: PlironEngine,
}

/// Extension of index entries in the cache directory.
const EXTENSION: &str = "kernel";

/// The kernel indexed under `launch`, loaded, if this executable stored one.
pub fn load(launch: &str) -> Option<IndexedKernel> {
    let entry = object_cache::value_for(&key(launch)?, EXTENSION)?;
    let entry = String::from_utf8(entry).ok()?;
    let mut fields = entry.lines();
    let mut field = |name: &str| fields.next()?.strip_prefix(name)?.strip_prefix(' ');
    let object = field("object")?;
    let entrypoint = field("entrypoint")?.to_string();
    let symbol = field("symbol")?.to_string();
    let [x, y, z] = numbers(field("cube_dim")?)?;
    let needs_parallelism = match field("parallel")? {
        "yes" => true,
        "no" => false,
        _ => return None,
    };
    let [base] = numbers(field("shared_base")?)?;
    let blocks = words(field("shared")?)
        .map(|block| {
            let (size, align) = block.split_once(':')?;
            Some(SharedMemoryBlock {
                size: size.parse().ok()?,
                align: align.parse().ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let io = words(field("io")?)
        .map(|mode| {
            Some(match mode {
                "r" => BufferIOAttr::ReadOnly,
                "w" => BufferIOAttr::WriteOnly,
                "rw" => BufferIOAttr::ReadWrite,
                "-" => BufferIOAttr::Dead,
                _ => return None,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let mut requirements = KernelRequirements {
        needs_parallelism,
        ..Default::default()
    };
    requirements.shared_memories.base = base as usize;
    requirements.shared_memories.blocks = blocks;
    let engine = PlironEngine::from_cached_object(object, &symbol, requirements, io)?;
    Some(IndexedKernel {
        entrypoint,
        cube_dim: Dim3 { x, y, z },
        engine,
    })
}

/// Indexes `engine`, the kernel compiled for `launch`, if its object is in the cache.
pub fn store(launch: &str, entrypoint: &str, cube_dim: Dim3, engine: &PlironEngine) {
    let (Some(key), Some(object)) = (key(launch), engine.object_entry()) else {
        return;
    };
    let requirements = engine.requirements();
    let shared = requirements.shared_memories.blocks.iter();
    let io = engine.buffer_io().iter().map(|mode| match mode {
        BufferIOAttr::ReadOnly => "r",
        BufferIOAttr::WriteOnly => "w",
        BufferIOAttr::ReadWrite => "rw",
        BufferIOAttr::Dead => "-",
    });
    let entry = format!(
        "object {object}\nentrypoint {entrypoint}\nsymbol {}\ncube_dim {} {} {}\n\
         parallel {}\nshared_base {}\nshared {}\nio {}\n",
        engine.symbol(),
        cube_dim.x,
        cube_dim.y,
        cube_dim.z,
        if requirements.needs_parallelism {
            "yes"
        } else {
            "no"
        },
        requirements.shared_memories.base,
        shared
            .map(|block| format!("{}:{}", block.size, block.align))
            .collect::<Vec<_>>()
            .join(" "),
        io.collect::<Vec<_>>().join(" "),
    );
    object_cache::store_value(&key, EXTENSION, entry.as_bytes());
}

/// The whole key of `launch`: the executable's build id and the host besides it. `None`
/// when the executable has no build id, which turns the index off.
fn key(launch: &str) -> Option<String> {
    let build = build_id()?;
    Some(format!(
        "build {build}\n{}\n{launch}",
        super::engine::host_description()
    ))
}

/// The fields of a space-separated list.
fn words(list: &str) -> impl Iterator<Item = &str> {
    list.split(' ').filter(|word| !word.is_empty())
}

/// Exactly `N` space-separated numbers.
fn numbers<const N: usize>(list: &str) -> Option<[u32; N]> {
    let parsed = words(list)
        .map(|word| word.parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    parsed.try_into().ok()
}

/// The running executable's GNU build id in hex: a hash of its contents the linker writes
/// into a note. `None` when it has none or cannot be read.
fn build_id() -> Option<&'static str> {
    static ID: OnceLock<Option<String>> = OnceLock::new();
    ID.get_or_init(|| read_build_id(&mut std::fs::File::open("/proc/self/exe").ok()?))
        .as_deref()
}

/// Note type of a GNU build id.
const NT_GNU_BUILD_ID: u32 = 3;
/// Program header type of a note segment.
const PT_NOTE: u32 = 4;

/// The build id note of a little-endian ELF64 file, found through its program headers.
fn read_build_id(file: &mut (impl Read + Seek)) -> Option<String> {
    let header: [u8; 64] = read_at(file, 0, 64)?.try_into().ok()?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let u16_at = |bytes: &[u8], at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at =
        |bytes: &[u8], at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at =
        |bytes: &[u8], at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let (table, entry_size, count) = (
        u64_at(&header, 32),
        usize::from(u16_at(&header, 54)),
        usize::from(u16_at(&header, 56)),
    );
    if entry_size < 56 {
        return None;
    }
    let headers = read_at(file, table, entry_size * count)?;
    for program in headers.chunks_exact(entry_size) {
        if u32_at(program, 0) != PT_NOTE {
            continue;
        }
        let notes = read_at(
            file,
            u64_at(program, 8),
            usize::try_from(u64_at(program, 32)).ok()?,
        )?;
        let mut rest = &notes[..];
        while rest.len() >= 12 {
            let (name_size, desc_size) = (u32_at(rest, 0) as usize, u32_at(rest, 4) as usize);
            let kind = u32_at(rest, 8);
            let name_end = 12 + name_size.div_ceil(4) * 4;
            let desc_end = name_end.checked_add(desc_size.div_ceil(4) * 4)?;
            if desc_end > rest.len() {
                break;
            }
            if kind == NT_GNU_BUILD_ID && rest[12..12 + name_size] == *b"GNU\0" && desc_size > 0 {
                let id = &rest[name_end..name_end + desc_size];
                return Some(id.iter().map(|byte| format!("{byte:02x}")).collect());
            }
            rest = &rest[desc_end..];
        }
    }
    None
}

/// `length` bytes of `file` from `offset`, refusing lengths no note or header table needs.
fn read_at(file: &mut (impl Read + Seek), offset: u64, length: usize) -> Option<Vec<u8>> {
    if length > 1 << 20 {
        return None;
    }
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut bytes = vec![0; length];
    file.read_exact(&mut bytes).ok()?;
    Some(bytes)
}
