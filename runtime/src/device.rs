//! Device selection: the CubeCL CPU runtime by default, wgpu and CUDA behind their features.

pub use cubecl::Device;

use crate::Error;

/// The device `KILN_DEVICE` names (see [`open_device`]), CPU if unset.
pub fn default_device() -> Result<Device, Error> {
    open_device(&std::env::var("KILN_DEVICE").unwrap_or_else(|_| "cpu".into()))
}

/// The device `name`d: `cpu`; `wgpu` or `cuda` with those features (`cuda` is the first GPU,
/// `cuda:N` the N-th). A runtime missing from the build or a device that does not open is
/// [`Error::Device`].
pub fn open_device(name: &str) -> Result<Device, Error> {
    let device = match name {
        #[cfg(feature = "cpu")]
        "cpu" => Device::cpu(),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(cubecl::device::WgpuDeviceKind::DefaultDevice),
        #[cfg(feature = "cuda")]
        cuda if cuda == "cuda" || cuda.starts_with("cuda:") => {
            let index = cuda
                .strip_prefix("cuda:")
                .map_or(Ok(0), str::parse)
                .map_err(|_| Error::Device(format!("KILN_DEVICE={cuda}: expected cuda or cuda:N")))?;
            Device::cuda(index)
        }
        other => return Err(Error::Device(format!("KILN_DEVICE={other} is not a runtime in this build"))),
    };
    device.map_err(|e| Error::Device(format!("{name}: {e:?}")))
}
