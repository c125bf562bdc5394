use cubecl::prelude::*;

#[cube(launch_unchecked)]
pub fn add<F: Float, N: Size>(a: &[Vector<F, N>], b: &[Vector<F, N>], out: &mut [Vector<F, N>]) {
    if ABSOLUTE_POS < out.len() {
        out[ABSOLUTE_POS] = a[ABSOLUTE_POS] + b[ABSOLUTE_POS];
    }
}
