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

/// The object code for `key`, and the name of its cache entry when there is a cache: read
/// from the cache, or made by `compile` and stored. A cache that cannot be read or written is
/// skipped: it costs a compile, nothing else.
pub(crate) fn object_for(
    key: &str,
    compile: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<(Vec<u8>, Option<String>), String> {
    let Some(dir) = directory() else {
        return Ok((compile()?, None));
    };
    let name = entry_name(key, "o");
    let path = dir.join(&name);
    if let Some(object) = load(&path, key) {
        return Ok((object, Some(name)));
    }
    let object = compile()?;
    if let Err(err) = store(dir, &path, key, &object) {
        log::warn!("kernel cache: cannot write {}: {err}", path.display());
        return Ok((object, None));
    }
    Ok((object, Some(name)))
}

/// The name of the entry `object_for` keeps `key`'s object in, if the cache is on (kiln's
/// change: known before the object is compiled, so the kernel index can name it at once).
pub(crate) fn object_entry(key: &str) -> Option<String> {
    directory().map(|_| entry_name(key, "o"))
}

/// The object of the entry `name` that `object_for` gave, if it is whole and its stored key
/// still hashes to its name.
pub(crate) fn object_named(name: &str) -> Option<Vec<u8>> {
    let entry = fs::read(directory()?.join(name)).ok()?;
    let (key, object) = parse(&entry)?;
    let key = std::str::from_utf8(key).ok()?;
    (entry_name(key, "o") == name).then(|| object.to_vec())
}

/// The cached value stored for `key` under `extension`, if any; `object_for`'s scheme for
/// entries other than objects.
pub(crate) fn value_for(key: &str, extension: &str) -> Option<Vec<u8>> {
    load(&directory()?.join(entry_name(key, extension)), key)
}

/// Stores `value` for `key` under `extension`; a failure is logged and otherwise ignored.
pub(crate) fn store_value(key: &str, extension: &str, value: &[u8]) {
    let Some(dir) = directory() else { return };
    let path = dir.join(entry_name(key, extension));
    if let Err(err) = store(dir, &path, key, value) {
        log::warn!("kernel cache: cannot write {}: {err}", path.display());
    }
}

/// The file name of `key`'s entry: a 128-bit hash of it and `extension`.
fn entry_name(key: &str, extension: &str) -> String {
    format!("{:016x}{:016x}.{extension}", hash(0, key), hash(1, key))
}

/// A 64-bit hash of `key` under `seed`; two seeds make a 128-bit file name.
fn hash(seed: u64, key: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

/// The value stored at `path` if the entry is whole and was made for `key`.
fn load(path: &Path, key: &str) -> Option<Vec<u8>> {
    let entry = fs::read(path).ok()?;
    let (stored_key, value) = parse(&entry)?;
    (stored_key == key.as_bytes()).then(|| value.to_vec())
}

/// The key and the value of a whole entry.
fn parse(entry: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = entry.strip_prefix(MAGIC)?;
    let (key, rest) = split_sized(rest)?;
    let (value, rest) = split_sized(rest)?;
    (rest.is_empty() && !value.is_empty()).then_some((key, value))
}

/// A little-endian u64 length, then that many bytes; and what follows them.
fn split_sized(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (length, rest) = bytes.split_first_chunk::<8>()?;
    let length = usize::try_from(u64::from_le_bytes(*length)).ok()?;
    (length <= rest.len()).then(|| rest.split_at(length))
}

/// Writes the entry to a file of its own in `dir`, then renames it to `path`.
fn store(dir: &Path, path: &Path, key: &str, value: &[u8]) -> std::io::Result<()> {
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
        file.write_all(&(value.len() as u64).to_le_bytes())?;
        file.write_all(value)?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}
