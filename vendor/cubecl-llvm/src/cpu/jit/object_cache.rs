//! A persistent cache of the CPU runtime's compiled kernels (kiln's change; upstream
//! cubecl#1527: cubecl-cpu 0.11.3 compiles every kernel again in every process).
//!
//! LLVM's optimization pipeline and code generation are most of a process's first step. The
//! object code a kernel compiles to is stored under the cache directory in a file named by a
//! hash of its key: the unoptimized LLVM IR, the host CPU and its features, and LLVM's and
//! this crate's versions. The file holds the key itself too, and an entry is used only when
//! its key matches byte for byte, so a hash collision or an older format costs a compile,
//! never a wrong kernel. Entries are written to a temporary file and renamed into place, so
//! processes sharing the directory never read half an entry.
//!
//! The directory is `$KILN_KERNEL_CACHE` if set (`off` disables the cache), otherwise
//! `$XDG_CACHE_HOME/kiln/cpu-kernels` or `$HOME/.cache/kiln/cpu-kernels`. Deleting it is
//! always safe.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// First bytes of an entry; a new layout of entries gets a new tag.
const MAGIC: &[u8; 8] = b"KILNOBJ1";

/// The cache directory, or `None` when caching is off or no directory is known.
fn directory() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("KILN_KERNEL_CACHE") {
        Some(dir) if dir == "off" => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            let home = std::env::var_os("HOME").filter(|home| !home.is_empty());
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .or_else(|| home.map(|home| PathBuf::from(home).join(".cache")))?;
            Some(base.join("kiln").join("cpu-kernels"))
        }
    })
    .as_deref()
}

/// The object code for `key`: read from the cache, or made by `compile` and stored.
/// A cache that cannot be read or written is skipped: it costs a compile, nothing else.
pub(crate) fn object_for(
    key: &str,
    compile: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, String> {
    let Some(dir) = directory() else {
        return compile();
    };
    let path = dir.join(format!("{:016x}{:016x}.o", hash(0, key), hash(1, key)));
    if let Some(object) = load(&path, key) {
        return Ok(object);
    }
    let object = compile()?;
    if let Err(err) = store(dir, &path, key, &object) {
        log::warn!("kernel cache: cannot write {}: {err}", path.display());
    }
    Ok(object)
}

/// A 64-bit hash of `key` under `seed`; two seeds make a 128-bit file name.
fn hash(seed: u64, key: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

/// The object stored at `path` if the entry is whole and was made for `key`.
fn load(path: &Path, key: &str) -> Option<Vec<u8>> {
    let entry = fs::read(path).ok()?;
    let rest = entry.strip_prefix(MAGIC)?;
    let (stored_key, rest) = split_sized(rest)?;
    let (object, rest) = split_sized(rest)?;
    (stored_key == key.as_bytes() && rest.is_empty() && !object.is_empty()).then(|| object.to_vec())
}

/// A little-endian u64 length, then that many bytes; and what follows them.
fn split_sized(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (length, rest) = bytes.split_first_chunk::<8>()?;
    let length = usize::try_from(u64::from_le_bytes(*length)).ok()?;
    (length <= rest.len()).then(|| rest.split_at(length))
}

/// Writes the entry to a file of its own in `dir`, then renames it to `path`.
fn store(dir: &Path, path: &Path, key: &str, object: &[u8]) -> std::io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(
        ".{}-{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(MAGIC)?;
        file.write_all(&(key.len() as u64).to_le_bytes())?;
        file.write_all(key.as_bytes())?;
        file.write_all(&(object.len() as u64).to_le_bytes())?;
        file.write_all(object)?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}
