//! simd128 dense kernel for wasm32.
//!
//! Register block: 4 rows × 8 outputs (two f32x4 per row), eight accumulators,
//! which V8 and SpiderMonkey keep in registers on x86-64 and arm64. Bias (or
//! the enhanced actor's shared user/context row) seeds the accumulators, and
//! ReLU is applied before the store, so each output is written exactly once.

use core::arch::wasm32::*;

use super::{Activation, DenseShape};

#[inline(always)]
unsafe fn load(p: *const f32) -> v128 {
    // SAFETY: caller guarantees 4 readable f32 at p; v128_load allows unaligned.
    unsafe { v128_load(p as *const v128) }
}

#[inline(always)]
unsafe fn store(p: *mut f32, v: v128, relu: bool) {
    let v = if relu { f32x4_max(v, f32x4_splat(0.0)) } else { v };
    // SAFETY: caller guarantees 4 writable f32 at p.
    unsafe { v128_store(p as *mut v128, v) }
}

pub fn dense(shape: DenseShape, x: &[f32], w: &[f32], bias: &[f32], act: Activation, y: &mut [f32]) {
    shape.check(x, w, bias, y);
    let DenseShape { rows, inputs: k, outputs: m } = shape;
    let relu = act == Activation::Relu;
    let (xp, wp, bp, yp) = (x.as_ptr(), w.as_ptr(), bias.as_ptr(), y.as_mut_ptr());
    let m8 = m - m % 8;
    let m4 = m - m % 4;

    // SAFETY (whole block): `shape.check` proved x holds rows×k, w holds k×m,
    // bias holds m and y holds rows×m floats. Every pointer below is formed as
    // base + (row < rows)·stride + (col < m) or (i < k), and each 4-wide access
    // starts at a column c with c + 4 <= m.
    unsafe {
        let mut n = 0;
        while n + 4 <= rows {
            let x0 = xp.add(n * k);
            let (x1, x2, x3) = (x0.add(k), x0.add(2 * k), x0.add(3 * k));
            let mut c = 0;
            while c < m8 {
                let b0 = load(bp.add(c));
                let b1 = load(bp.add(c + 4));
                let (mut a00, mut a01, mut a10, mut a11) = (b0, b1, b0, b1);
                let (mut a20, mut a21, mut a30, mut a31) = (b0, b1, b0, b1);
                let mut wr = wp.add(c);
                for i in 0..k {
                    let w0 = load(wr);
                    let w1 = load(wr.add(4));
                    let s0 = f32x4_splat(*x0.add(i));
                    let s1 = f32x4_splat(*x1.add(i));
                    let s2 = f32x4_splat(*x2.add(i));
                    let s3 = f32x4_splat(*x3.add(i));
                    a00 = f32x4_add(a00, f32x4_mul(s0, w0));
                    a01 = f32x4_add(a01, f32x4_mul(s0, w1));
                    a10 = f32x4_add(a10, f32x4_mul(s1, w0));
                    a11 = f32x4_add(a11, f32x4_mul(s1, w1));
                    a20 = f32x4_add(a20, f32x4_mul(s2, w0));
                    a21 = f32x4_add(a21, f32x4_mul(s2, w1));
                    a30 = f32x4_add(a30, f32x4_mul(s3, w0));
                    a31 = f32x4_add(a31, f32x4_mul(s3, w1));
                    wr = wr.add(m);
                }
                let y0 = yp.add(n * m + c);
                store(y0, a00, relu);
                store(y0.add(4), a01, relu);
                store(y0.add(m), a10, relu);
                store(y0.add(m + 4), a11, relu);
                store(y0.add(2 * m), a20, relu);
                store(y0.add(2 * m + 4), a21, relu);
                store(y0.add(3 * m), a30, relu);
                store(y0.add(3 * m + 4), a31, relu);
                c += 8;
            }
            while c < m4 {
                let b0 = load(bp.add(c));
                let (mut a0, mut a1, mut a2, mut a3) = (b0, b0, b0, b0);
                let mut wr = wp.add(c);
                for i in 0..k {
                    let w0 = load(wr);
                    a0 = f32x4_add(a0, f32x4_mul(f32x4_splat(*x0.add(i)), w0));
                    a1 = f32x4_add(a1, f32x4_mul(f32x4_splat(*x1.add(i)), w0));
                    a2 = f32x4_add(a2, f32x4_mul(f32x4_splat(*x2.add(i)), w0));
                    a3 = f32x4_add(a3, f32x4_mul(f32x4_splat(*x3.add(i)), w0));
                    wr = wr.add(m);
                }
                let y0 = yp.add(n * m + c);
                store(y0, a0, relu);
                store(y0.add(m), a1, relu);
                store(y0.add(2 * m), a2, relu);
                store(y0.add(3 * m), a3, relu);
                c += 4;
            }
            for r in 0..4 {
                tail_columns(xp.add((n + r) * k), wp, bp, yp.add((n + r) * m), k, m, m4, relu);
            }
            n += 4;
        }
        // Remaining rows (and the whole call at N < 4): one row at a time,
        // 16 outputs per pass, which is the GEMV shape of a single request.
        while n < rows {
            let xr = xp.add(n * k);
            let yr = yp.add(n * m);
            let m16 = m - m % 16;
            let mut c = 0;
            while c < m16 {
                let mut a0 = load(bp.add(c));
                let mut a1 = load(bp.add(c + 4));
                let mut a2 = load(bp.add(c + 8));
                let mut a3 = load(bp.add(c + 12));
                let mut wr = wp.add(c);
                for i in 0..k {
                    let s = f32x4_splat(*xr.add(i));
                    a0 = f32x4_add(a0, f32x4_mul(s, load(wr)));
                    a1 = f32x4_add(a1, f32x4_mul(s, load(wr.add(4))));
                    a2 = f32x4_add(a2, f32x4_mul(s, load(wr.add(8))));
                    a3 = f32x4_add(a3, f32x4_mul(s, load(wr.add(12))));
                    wr = wr.add(m);
                }
                store(yr.add(c), a0, relu);
                store(yr.add(c + 4), a1, relu);
                store(yr.add(c + 8), a2, relu);
                store(yr.add(c + 12), a3, relu);
                c += 16;
            }
            while c < m4 {
                let mut a0 = load(bp.add(c));
                let mut wr = wp.add(c);
                for i in 0..k {
                    a0 = f32x4_add(a0, f32x4_mul(f32x4_splat(*xr.add(i)), load(wr)));
                    wr = wr.add(m);
                }
                store(yr.add(c), a0, relu);
                c += 4;
            }
            tail_columns(xr, wp, bp, yr, k, m, m4, relu);
            n += 1;
        }
    }
}

/// The last `m % 4` outputs of one row, scalar.
#[inline(always)]
unsafe fn tail_columns(xr: *const f32, wp: *const f32, bp: *const f32, yr: *mut f32, k: usize, m: usize, from: usize, relu: bool) {
    // SAFETY: caller passes row pointers valid for k inputs and m outputs, and from <= m.
    unsafe {
        for c in from..m {
            let mut acc = *bp.add(c);
            for i in 0..k {
                acc += *xr.add(i) * *wp.add(i * m + c);
            }
            *yr.add(c) = if relu { acc.max(0.0) } else { acc };
        }
    }
}
