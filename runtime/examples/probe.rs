use cubecl::prelude::*;

fn main() {
    
    let client = cubecl::Device::cpu().unwrap().client();
    println!("{:?}", client.properties().hardware);
    let n = 1024usize;
    let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let ha = client.create_from_slice(f32::as_bytes(&a));
    let hb = client.create_from_slice(f32::as_bytes(&a));
    let ho = client.empty(n * 4);
    let v = 8usize;
    unsafe {
        kiln_kernels::add::launch_unchecked::<f32>(&client, CubeCount::Static((n / v / 64) as u32, 1, 1), CubeDim::new_1d(64), v,
            BufferArg::from_raw_parts(ha, n), BufferArg::from_raw_parts(hb, n), BufferArg::from_raw_parts(ho.clone(), n));
    }
    let out = client.read_one_unchecked(ho);
    let out = f32::from_bytes(&out);
    println!("{:?}", &out[..8]);
}
