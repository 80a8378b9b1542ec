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
