//! Feature pins for kiln's builds; see this crate's `Cargo.toml`. It has no code.
