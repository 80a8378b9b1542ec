//! Portable dense kernel. Native builds use it too; its inner loop is a
//! contiguous axpy over outputs, which LLVM vectorises for the host.

use super::{Activation, DenseShape};

/// Rows handled together so each weight row loaded is reused four times.
const ROWS: usize = 4;

pub fn dense(shape: DenseShape, x: &[f32], w: &[f32], bias: &[f32], act: Activation, y: &mut [f32]) {
    shape.check(x, w, bias, y);
    let DenseShape { rows, inputs: k, outputs: m } = shape;
    let mut n = 0;
    while n + ROWS <= rows {
        let (y0, rest) = y[n * m..].split_at_mut(m);
        let (y1, rest) = rest.split_at_mut(m);
        let (y2, rest) = rest.split_at_mut(m);
        let y3 = &mut rest[..m];
        y0.copy_from_slice(bias);
        y1.copy_from_slice(bias);
        y2.copy_from_slice(bias);
        y3.copy_from_slice(bias);
        let xr = &x[n * k..(n + ROWS) * k];
        for i in 0..k {
            let wr = &w[i * m..(i + 1) * m];
            let (a0, a1, a2, a3) = (xr[i], xr[k + i], xr[2 * k + i], xr[3 * k + i]);
            for o in 0..m {
                let wv = wr[o];
                y0[o] += a0 * wv;
                y1[o] += a1 * wv;
                y2[o] += a2 * wv;
                y3[o] += a3 * wv;
            }
        }
        n += ROWS;
    }
    while n < rows {
        let yr = &mut y[n * m..(n + 1) * m];
        yr.copy_from_slice(bias);
        let xr = &x[n * k..(n + 1) * k];
        for (i, &a) in xr.iter().enumerate() {
            let wr = &w[i * m..(i + 1) * m];
            for (yo, &wv) in yr.iter_mut().zip(wr) {
                *yo += a * wv;
            }
        }
        n += 1;
    }
    if act == Activation::Relu {
        for v in &mut y[..rows * m] {
            *v = v.max(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::reference;
    use super::*;

    fn fill(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_reference_on_odd_shapes() {
        for &(rows, k, m) in &[(1, 1, 1), (1, 40, 128), (3, 7, 5), (4, 9, 17), (7, 33, 64), (50, 40, 128), (13, 64, 14)] {
            let shape = DenseShape { rows, inputs: k, outputs: m };
            let (x, w, b) = (fill(rows * k, 1), fill(k * m, 2), fill(m, 3));
            for act in [Activation::Identity, Activation::Relu] {
                let mut y = vec![f32::NAN; rows * m];
                dense(shape, &x, &w, &b, act, &mut y);
                let want = reference::dense(shape, &x, &w, &b, act);
                for (got, want) in y.iter().zip(&want) {
                    assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{rows}x{k}x{m}: {got} vs {want}");
                }
            }
        }
    }
}

/// The integer kernel in plain Rust: what the simd128 one must equal exactly.
pub fn dense_i16(rows: usize, pairs: usize, blocks: usize, x: &[i16], w: &[i16], acc: &mut [f32]) {
    for n in 0..rows {
        let xr = &x[n * pairs * 2..(n + 1) * pairs * 2];
        for b in 0..blocks {
            let wb = &w[b * pairs * 8..(b + 1) * pairs * 8];
            let mut total = [0.0f32; 4];
            for start in (0..pairs).step_by(super::I16_CHUNK) {
                let mut a = [0i32; 4];
                for p in start..pairs.min(start + super::I16_CHUNK) {
                    let (lo, hi) = (xr[2 * p] as i32, xr[2 * p + 1] as i32);
                    let wp = &wb[p * 8..p * 8 + 8];
                    for j in 0..4 {
                        a[j] += lo * wp[2 * j] as i32 + hi * wp[2 * j + 1] as i32;
                    }
                }
                for j in 0..4 {
                    total[j] += a[j] as f32;
                }
            }
            acc[(n * blocks + b) * 4..(n * blocks + b) * 4 + 4].copy_from_slice(&total);
        }
    }
}

pub fn quantise_row(row: &[f32], inv: f32, qmax: f32, out: &mut [i16]) {
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (v * inv).clamp(-qmax, qmax).round_ties_even() as i16;
    }
    out[row.len()..].fill(0);
}

pub fn dequantise_row(acc: &[f32], x_scale: f32, w_scale: &[f32], bias: &[f32], relu: bool, y: &mut [f32]) {
    for (o, yo) in y.iter_mut().enumerate() {
        let v = acc[o] * (x_scale * w_scale[o]) + bias[o];
        *yo = if relu { v.max(0.0) } else { v };
    }
}
