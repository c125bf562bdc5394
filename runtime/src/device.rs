//! Device selection: the CubeCL CPU runtime by default, wgpu behind the `wgpu` feature.

pub use cubecl::Device;

use crate::Error;

/// The device `KILN_DEVICE` names (`cpu`, or `wgpu` with that feature), CPU if unset.
pub fn default_device() -> Result<Device, Error> {
    let name = std::env::var("KILN_DEVICE").unwrap_or_else(|_| "cpu".into());
    let device = match name.as_str() {
        #[cfg(feature = "cpu")]
        "cpu" => Device::cpu(),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(cubecl::device::WgpuDeviceKind::DefaultDevice),
        other => return Err(Error::Device(format!("KILN_DEVICE={other} is not a runtime in this build"))),
    };
    device.map_err(|e| Error::Device(format!("{name}: {e:?}")))
}
