//! simd128 dense kernel for wasm32, and with relaxed SIMD's fused
//! multiply-add where the build enables it (`scripts/build-wasm.sh relaxed`).
//!
//! Register block: 4 rows × 8 outputs (two f32x4 per row), eight accumulators,
//! which V8 and SpiderMonkey keep in registers on x86-64 and arm64. Bias (or
//! the enhanced actor's shared user/context row) seeds the accumulators, and
//! ReLU is applied before the store, so outputs are never read back.

use core::arch::wasm32::*;

use super::{Activation, DenseShape};

#[inline(always)]
unsafe fn load(p: *const f32) -> v128 {
    // SAFETY: caller guarantees 4 readable f32 at p; v128_load allows unaligned.
    unsafe { v128_load(p as *const v128) }
}

/// `acc + a · b`. The relaxed-SIMD build fuses it into one instruction
/// (`f32x4.relaxed_madd`: an FMA where the CPU has one, else mul then add),
/// which halves the kernel's arithmetic instructions.
#[inline(always)]
fn madd(acc: v128, a: v128, b: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, acc)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(acc, f32x4_mul(a, b))
    }
}

#[inline(always)]
unsafe fn store(p: *mut f32, v: v128, relu: bool) {
    // pmax(v, 0) is `v < 0 ? 0 : v`: one instruction on x64 where IEEE max
    // takes several, and it still passes NaN on for the ranker's finiteness check.
    let v = if relu { f32x4_pmax(v, f32x4_splat(0.0)) } else { v };
    // SAFETY: caller guarantees 4 writable f32 at p.
    unsafe { v128_store(p as *mut v128, v) }
}

pub fn dense(shape: DenseShape, x: &[f32], w: &[f32], bias: &[f32], act: Activation, y: &mut [f32]) {
    shape.check(x, w, bias, y);
    let DenseShape { rows, inputs: k, outputs: m } = shape;
    let relu = act == Activation::Relu;
    let p = Ptrs { x: x.as_ptr(), w: w.as_ptr(), b: bias.as_ptr(), y: y.as_mut_ptr(), k, m, relu };

    // SAFETY (whole block): `shape.check` proved x holds rows×k, w holds k×m,
    // bias holds m and y holds rows×m floats. Every block below starts at a
    // row n with n + 4 <= rows (or n < rows for single rows) and at a column
    // c with c + width <= m.
    //
    // Widths that are not a multiple of the block (the actor's last layer has
    // 2k = 14 outputs) end with one more block that overlaps the previous one
    // and ends exactly at m. The overlapped columns are computed again with
    // the same operations in the same order, so they get the same values, and
    // no column falls to a slow scalar tail.
    unsafe {
        let mut n = 0;
        while n + 4 <= rows {
            if m >= 8 {
                let mut c = 0;
                while c + 8 <= m {
                    block4x8(&p, n, c);
                    c += 8;
                }
                if c < m {
                    block4x8(&p, n, m - 8);
                }
            } else if m >= 4 {
                block4x4(&p, n, 0);
                if m > 4 {
                    block4x4(&p, n, m - 4);
                }
            } else {
                for r in n..n + 4 {
                    tail_columns(&p, r, 0);
                }
            }
            n += 4;
        }
        // Remaining rows (and the whole call at N < 4): one row at a time,
        // 16 outputs per pass, which is the GEMV shape of a single request.
        while n < rows {
            let mut c = 0;
            while c + 16 <= m {
                row16(&p, n, c);
                c += 16;
            }
            while c + 4 <= m {
                row4(&p, n, c);
                c += 4;
            }
            if c < m {
                if m >= 4 {
                    row4(&p, n, m - 4);
                } else {
                    tail_columns(&p, n, c);
                }
            }
            n += 1;
        }
    }
}

/// Base pointers and sizes of one dense call.
struct Ptrs {
    x: *const f32,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    k: usize,
    m: usize,
    relu: bool,
}

/// Rows n..n+4, columns c..c+8: eight accumulators.
#[inline(always)]
unsafe fn block4x8(p: &Ptrs, n: usize, c: usize) {
    let (k, m) = (p.k, p.m);
    // SAFETY: the caller guarantees n + 4 <= rows and c + 8 <= m.
    unsafe {
        let x0 = p.x.add(n * k);
        let (x1, x2, x3) = (x0.add(k), x0.add(2 * k), x0.add(3 * k));
        let b0 = load(p.b.add(c));
        let b1 = load(p.b.add(c + 4));
        let (mut a00, mut a01, mut a10, mut a11) = (b0, b1, b0, b1);
        let (mut a20, mut a21, mut a30, mut a31) = (b0, b1, b0, b1);
        let mut wr = p.w.add(c);
        for i in 0..k {
            let w0 = load(wr);
            let w1 = load(wr.add(4));
            let s0 = f32x4_splat(*x0.add(i));
            let s1 = f32x4_splat(*x1.add(i));
            let s2 = f32x4_splat(*x2.add(i));
            let s3 = f32x4_splat(*x3.add(i));
            a00 = madd(a00, s0, w0);
            a01 = madd(a01, s0, w1);
            a10 = madd(a10, s1, w0);
            a11 = madd(a11, s1, w1);
            a20 = madd(a20, s2, w0);
            a21 = madd(a21, s2, w1);
            a30 = madd(a30, s3, w0);
            a31 = madd(a31, s3, w1);
            wr = wr.add(m);
        }
        let y0 = p.y.add(n * m + c);
        store(y0, a00, p.relu);
        store(y0.add(4), a01, p.relu);
        store(y0.add(m), a10, p.relu);
        store(y0.add(m + 4), a11, p.relu);
        store(y0.add(2 * m), a20, p.relu);
        store(y0.add(2 * m + 4), a21, p.relu);
        store(y0.add(3 * m), a30, p.relu);
        store(y0.add(3 * m + 4), a31, p.relu);
    }
}

/// Rows n..n+4, columns c..c+4.
#[inline(always)]
unsafe fn block4x4(p: &Ptrs, n: usize, c: usize) {
    let (k, m) = (p.k, p.m);
    // SAFETY: the caller guarantees n + 4 <= rows and c + 4 <= m.
    unsafe {
        let x0 = p.x.add(n * k);
        let (x1, x2, x3) = (x0.add(k), x0.add(2 * k), x0.add(3 * k));
        let b0 = load(p.b.add(c));
        let (mut a0, mut a1, mut a2, mut a3) = (b0, b0, b0, b0);
        let mut wr = p.w.add(c);
        for i in 0..k {
            let w0 = load(wr);
            a0 = madd(a0, f32x4_splat(*x0.add(i)), w0);
            a1 = madd(a1, f32x4_splat(*x1.add(i)), w0);
            a2 = madd(a2, f32x4_splat(*x2.add(i)), w0);
            a3 = madd(a3, f32x4_splat(*x3.add(i)), w0);
            wr = wr.add(m);
        }
        let y0 = p.y.add(n * m + c);
        store(y0, a0, p.relu);
        store(y0.add(m), a1, p.relu);
        store(y0.add(2 * m), a2, p.relu);
        store(y0.add(3 * m), a3, p.relu);
    }
}

/// Row n, columns c..c+16.
#[inline(always)]
unsafe fn row16(p: &Ptrs, n: usize, c: usize) {
    let (k, m) = (p.k, p.m);
    // SAFETY: the caller guarantees n < rows and c + 16 <= m.
    unsafe {
        let xr = p.x.add(n * k);
        let mut a0 = load(p.b.add(c));
        let mut a1 = load(p.b.add(c + 4));
        let mut a2 = load(p.b.add(c + 8));
        let mut a3 = load(p.b.add(c + 12));
        let mut wr = p.w.add(c);
        for i in 0..k {
            let s = f32x4_splat(*xr.add(i));
            a0 = madd(a0, s, load(wr));
            a1 = madd(a1, s, load(wr.add(4)));
            a2 = madd(a2, s, load(wr.add(8)));
            a3 = madd(a3, s, load(wr.add(12)));
            wr = wr.add(m);
        }
        let yr = p.y.add(n * m + c);
        store(yr, a0, p.relu);
        store(yr.add(4), a1, p.relu);
        store(yr.add(8), a2, p.relu);
        store(yr.add(12), a3, p.relu);
    }
}

/// Row n, columns c..c+4.
#[inline(always)]
unsafe fn row4(p: &Ptrs, n: usize, c: usize) {
    let (k, m) = (p.k, p.m);
    // SAFETY: the caller guarantees n < rows and c + 4 <= m.
    unsafe {
        let xr = p.x.add(n * k);
        let mut a0 = load(p.b.add(c));
        let mut wr = p.w.add(c);
        for i in 0..k {
            a0 = madd(a0, f32x4_splat(*xr.add(i)), load(wr));
            wr = wr.add(m);
        }
        store(p.y.add(n * m + c), a0, p.relu);
    }
}

/// Row n, columns from..m, scalar: only for layers narrower than 4.
#[inline(always)]
unsafe fn tail_columns(p: &Ptrs, n: usize, from: usize) {
    let (k, m) = (p.k, p.m);
    // SAFETY: the caller guarantees n < rows and from <= m.
    unsafe {
        let xr = p.x.add(n * k);
        for c in from..m {
            let mut acc = *p.b.add(c);
            for i in 0..k {
                acc += *xr.add(i) * *p.w.add(i * m + c);
            }
            *p.y.add(n * m + c) = if p.relu { acc.max(0.0) } else { acc };
        }
    }
}

/// The integer kernel: 4 rows × 8 outputs per block (eight i32x4
/// accumulators, as the f32 kernel), then single rows. Each chunk of input
/// pairs is summed in i32 registers and added to the f32 totals in `acc`.
pub fn dense_i16(rows: usize, pairs: usize, blocks: usize, x: &[i16], w: &[i16], acc: &mut [f32]) {
    // SAFETY (whole block): `simd::dense_i16` checked x holds rows × pairs
    // pairs, w blocks × pairs × 8 and acc rows × blocks × 4 values; every
    // call below stays within n < rows and b < blocks.
    unsafe {
        // Each input pair is read as one i32: two i16, the even one low.
        let (xp, wp, ap) = (x.as_ptr() as *const i32, w.as_ptr(), acc.as_mut_ptr());
        let mut n = 0;
        while n + 4 <= rows {
            let mut b = 0;
            while b + 2 <= blocks {
                block4x8_i16(xp.add(n * pairs), pairs, wp.add(b * pairs * 8), ap.add((n * blocks + b) * 4), blocks);
                b += 2;
            }
            if b < blocks {
                for r in n..n + 4 {
                    row4_i16(xp.add(r * pairs), pairs, wp.add(b * pairs * 8), ap.add((r * blocks + b) * 4));
                }
            }
            n += 4;
        }
        while n < rows {
            for b in 0..blocks {
                row4_i16(xp.add(n * pairs), pairs, wp.add(b * pairs * 8), ap.add((n * blocks + b) * 4));
            }
            n += 1;
        }
    }
}

/// `*t += convert(part)`, the f32 total of one chunk's i32 sums.
#[inline(always)]
unsafe fn add_chunk(t: *mut f32, part: v128) {
    // SAFETY: the caller guarantees 4 f32 at t.
    unsafe { v128_store(t as *mut v128, f32x4_add(load(t), f32x4_convert_i32x4(part))) }
}

/// Rows x..x+4·pairs, two blocks of four outputs from w.
#[inline(always)]
unsafe fn block4x8_i16(x: *const i32, pairs: usize, w: *const i16, acc: *mut f32, blocks: usize) {
    // SAFETY: the caller guarantees four rows of `pairs` at x, two blocks of
    // `pairs × 8` at w, and four rows of `blocks × 4` from acc.
    unsafe {
        let (w0p, w1p, row) = (w, w.add(pairs * 8), blocks * 4);
        for r in 0..4 {
            v128_store(acc.add(r * row) as *mut v128, f32x4_splat(0.0));
            v128_store(acc.add(r * row + 4) as *mut v128, f32x4_splat(0.0));
        }
        let mut start = 0;
        while start < pairs {
            let end = pairs.min(start + super::I16_CHUNK);
            let z = i32x4_splat(0);
            let (mut a00, mut a01, mut a10, mut a11, mut a20, mut a21, mut a30, mut a31) = (z, z, z, z, z, z, z, z);
            for p in start..end {
                let w0 = v128_load(w0p.add(p * 8) as *const v128);
                let w1 = v128_load(w1p.add(p * 8) as *const v128);
                let s0 = i32x4_splat(x.add(p).read_unaligned());
                let s1 = i32x4_splat(x.add(pairs + p).read_unaligned());
                let s2 = i32x4_splat(x.add(2 * pairs + p).read_unaligned());
                let s3 = i32x4_splat(x.add(3 * pairs + p).read_unaligned());
                a00 = i32x4_add(a00, i32x4_dot_i16x8(s0, w0));
                a01 = i32x4_add(a01, i32x4_dot_i16x8(s0, w1));
                a10 = i32x4_add(a10, i32x4_dot_i16x8(s1, w0));
                a11 = i32x4_add(a11, i32x4_dot_i16x8(s1, w1));
                a20 = i32x4_add(a20, i32x4_dot_i16x8(s2, w0));
                a21 = i32x4_add(a21, i32x4_dot_i16x8(s2, w1));
                a30 = i32x4_add(a30, i32x4_dot_i16x8(s3, w0));
                a31 = i32x4_add(a31, i32x4_dot_i16x8(s3, w1));
            }
            for (r, (lo, hi)) in [(a00, a01), (a10, a11), (a20, a21), (a30, a31)].into_iter().enumerate() {
                add_chunk(acc.add(r * row), lo);
                add_chunk(acc.add(r * row + 4), hi);
            }
            start = end;
        }
    }
}

/// One row, one block of four outputs.
#[inline(always)]
unsafe fn row4_i16(x: *const i32, pairs: usize, w: *const i16, acc: *mut f32) {
    // SAFETY: the caller guarantees `pairs` values at x, `pairs × 8` at w and 4 at acc.
    unsafe {
        v128_store(acc as *mut v128, f32x4_splat(0.0));
        let mut start = 0;
        while start < pairs {
            let end = pairs.min(start + super::I16_CHUNK);
            let mut a = i32x4_splat(0);
            for p in start..end {
                a = i32x4_add(a, i32x4_dot_i16x8(i32x4_splat(x.add(p).read_unaligned()), v128_load(w.add(p * 8) as *const v128)));
            }
            add_chunk(acc, a);
            start = end;
        }
    }
}

pub fn max_abs(row: &[f32]) -> f32 {
    let mut chunks = row.chunks_exact(4);
    let mut m = f32x4_splat(0.0);
    for c in &mut chunks {
        // SAFETY: each chunk holds exactly 4 f32.
        m = f32x4_pmax(m, f32x4_abs(unsafe { load(c.as_ptr()) }));
    }
    let lanes = [f32x4_extract_lane::<0>(m), f32x4_extract_lane::<1>(m), f32x4_extract_lane::<2>(m), f32x4_extract_lane::<3>(m)];
    chunks.remainder().iter().chain(&lanes).fold(0.0f32, |a, v| a.max(v.abs()))
}

/// As `scalar::quantise_row`, eight values per step: scale, clamp, round to
/// nearest even, and narrow two i32x4 into one i16x8. Rounding adds
/// 1.5 · 2^23, which leaves the integer in the low mantissa bits (|v| ≤ 32767
/// here), rounded to nearest even by the add itself; `f32x4.nearest` and
/// `i32x4.trunc_sat_f32x4` took a dozen x64 instructions for the same.
pub fn quantise_row(row: &[f32], inv: f32, qmax: f32, out: &mut [i16]) {
    const MAGIC: f32 = 12_582_912.0;
    let (vinv, hi, lo, magic) = (f32x4_splat(inv), f32x4_splat(qmax), f32x4_splat(-qmax), f32x4_splat(MAGIC));
    let q = |v: v128| i32x4_sub(f32x4_add(f32x4_pmax(lo, f32x4_pmin(hi, f32x4_mul(v, vinv))), magic), i32x4_splat(MAGIC.to_bits() as i32));
    let mut i = 0;
    while i + 8 <= row.len() {
        // SAFETY: i + 8 <= row.len() <= out.len().
        unsafe {
            let (a, b) = (q(load(row.as_ptr().add(i))), q(load(row.as_ptr().add(i + 4))));
            v128_store(out.as_mut_ptr().add(i) as *mut v128, i16x8_narrow_i32x4(a, b));
        }
        i += 8;
    }
    super::scalar::quantise_row(&row[i..], inv, qmax, &mut out[i..]);
}

pub fn dequantise_row(acc: &[f32], x_scale: f32, w_scale: &[f32], bias: &[f32], relu: bool, y: &mut [f32]) {
    let (m, xs) = (y.len(), f32x4_splat(x_scale));
    let mut o = 0;
    while o + 4 <= m {
        // SAFETY: o + 4 <= m, and the caller checked acc, w_scale and bias hold m values.
        unsafe {
            let scale = f32x4_mul(xs, load(w_scale.as_ptr().add(o)));
            let v = f32x4_add(f32x4_mul(load(acc.as_ptr().add(o)), scale), load(bias.as_ptr().add(o)));
            store(y.as_mut_ptr().add(o), v, relu);
        }
        o += 4;
    }
    super::scalar::dequantise_row(&acc[o..], x_scale, &w_scale[o..], &bias[o..], relu, &mut y[o..]);
}

/// tanh of four lanes: sign(x) · (1 − 2 / (e^{2|x|} + 1)).
#[inline(always)]
fn tanh4(x: v128) -> v128 {
    // Past |x| = 10, tanh rounds to 1 in f32; the clamp also keeps exp finite.
    let ax = f32x4_min(f32x4_abs(x), f32x4_splat(10.0));
    let e = exp4(f32x4_add(ax, ax));
    let one = f32x4_splat(1.0);
    let t = f32x4_sub(one, f32x4_div(f32x4_splat(2.0), f32x4_add(e, one)));
    v128_or(t, v128_and(x, f32x4_splat(-0.0)))
}

/// e^x for x in [0, 20]: x = n·ln2 + r with |r| ≤ ln2/2, a degree-7 Taylor
/// polynomial in r (relative error below 2e-7 there), scaled by 2^n through
/// the exponent bits.
#[inline(always)]
fn exp4(x: v128) -> v128 {
    let n = f32x4_nearest(f32x4_mul(x, f32x4_splat(core::f32::consts::LOG2_E)));
    // ln 2 split in two so that n · LN2_HI is exact.
    let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, f32x4_splat(0.693_359_4))), f32x4_mul(n, f32x4_splat(-2.121_944_4e-4)));
    let mut p = f32x4_splat(1.0 / 5040.0);
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = f32x4_add(f32x4_mul(p, r), f32x4_splat(c));
    }
    let scale = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
    f32x4_mul(p, scale)
}

pub fn tanh_in_place(v: &mut [f32]) {
    let mut chunks = v.chunks_exact_mut(4);
    for c in &mut chunks {
        // SAFETY: each chunk holds exactly 4 f32.
        unsafe { store(c.as_mut_ptr(), tanh4(load(c.as_ptr())), false) };
    }
    for x in chunks.into_remainder() {
        *x = x.tanh();
    }
}
