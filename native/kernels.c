/*
 * medrobust's own kernels for tfjs-backend-wasm: convolution gradients without zero insertion, max-pool
 * gradient, per-channel reductions and batch-norm tails, on wasm32 + simd128.
 *
 * The module imports the wasm backend's memory ("env" "memory"), so every pointer below is an address in
 * the backend's heap: a tensor's data is read and written where tfjs keeps it, with no copies. The module
 * has no data segments and uses no stack (no address-taken locals); the JavaScript side still points its
 * stack pointer at a block of its own in that heap. Every kernel takes a part index and a part count, and
 * computes only its share (disjoint outputs), so that several threads can run one call together.
 *
 * Build: scripts/build-wasm.sh (Debian clang 14 + lld). Layouts are tfjs's: NHWC activations, filters
 * [kh, kw, ci, co].
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))

typedef v128_t f4;

INLINE f4 ld(const float *p) { return wasm_v128_load(p); }
INLINE void st(float *p, f4 v) { wasm_v128_store(p, v); }
INLINE f4 splat(const float *p) { return wasm_v128_load32_splat(p); }
#ifdef MEDROBUST_RELAXED_MADD
/* The FMA build (scripts/build-wasm.sh, clang 16 -mrelaxed-simd): relaxed SIMD's f32x4.relaxed_madd (a * b + c),
   which rounds once where the CPU has fused multiply-add (x64 with FMA, arm64) and twice elsewhere, so results
   differ from the plain build's in the last bits and may differ between machines. */
INLINE f4 madd(f4 acc, f4 a, f4 b) { return __builtin_wasm_relaxed_madd_f32x4(a, b, acc); }
#else
INLINE f4 madd(f4 acc, f4 a, f4 b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }
#endif

INLINE int imin(int a, int b) { return a < b ? a : b; }
INLINE int imax(int a, int b) { return a > b ? a : b; }
/* floor(a / b) for b > 0 */
INLINE int floordiv(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
/* ceil(a / b) for b > 0 */
INLINE int ceildiv(int a, int b) { return -floordiv(-a, b); }

/* Range [lo, hi) of part `part` of `parts` over [0, n). */
INLINE int part_lo(int n, int part, int parts) { return (int)(((long long)n * part) / parts); }

/* ------------------------------------------------------------------------------------------------ */
/* Filter gradient                                                                                  */
/* dw[ky][kx][ci][co] = sum over n, oy, ox of x[n][iy][ix][ci] * dy[n][oy][ox][co],                   */
/*   iy = oy*sh - top + ky*dh, ix = ox*sw - left + kx*dw (positions outside x contribute 0).          */
/* ------------------------------------------------------------------------------------------------ */

#ifndef BLOCK_FLOATS
#define BLOCK_FLOATS (16 * 1024)
#endif
#ifndef MIN_POSITIONS
#define MIN_POSITIONS 32
#endif
#ifndef TAP_BLOCK_FLOATS
#define TAP_BLOCK_FLOATS (128 * 1024)
#endif
#ifndef DW_FLOATS_TAP_OUTER
#define DW_FLOATS_TAP_OUTER (64 * 1024)
#endif

typedef struct {
  const float *x, *dy;
  float *dw;
  int n, ih, iw, ci, oh, ow, co, kh, kw, sh, sw, dh, dwd, top, left;
  /* dy of the current block of rows [pr0, pr0 + pn / ow) repacked for the tiles of 8 output channels:
     dpack[o0 * pn + ((r - pr0) * ow + ox) * 8 + j] = dy[r][ox][o0 + j] for o0 < co & ~7 (0: read dy itself) */
  float *dpack;
  int pr0, pn;
  /* x of tap xtap for the same block, by this part's groups of 4 input channels from group xglo on (0: read x
     itself): xpack[((c0 / 4 - xglo) * pn + (r - pr0) * ow + ox) * 4 + m] = x[b][iy][ox*sw + xoff][c0 + m] where
     read, 0 where the tap reads padding */
  float *xpack;
  int xtap, xglo;
} FilterGrad;

/* One tile of MR input channels x NR output channels (NR a multiple of 4) of one tap, accumulated over
   output rows [r0, r1) (row r = n*oh + oy). */
INLINE void fg_tile(const FilterGrad *g, int ky, int kx, int c0, int o0, int r0, int r1, const int MR, const int NR) {
  f4 acc[4][4];
  float *out = g->dw + ((ky * g->kw + kx) * g->ci + c0) * g->co + o0;
  for (int m = 0; m < MR; m++)
    for (int v = 0; v < NR / 4; v++) acc[m][v] = ld(out + m * g->co + 4 * v);
  const int xstep = g->sw * g->ci;
  /* ox range whose ix falls inside the row */
  const int xoff = kx * g->dwd - g->left;
  const int ox0 = imax(0, ceildiv(-xoff, g->sw));
  const int ox1 = imin(g->ow, floordiv(g->iw - 1 - xoff, g->sw) + 1);
  if (ox1 <= ox0) return;
  /* With x packed (fg_pack_x: zeros where the tap reads padding) the block's positions are consecutive in
     both packs: one loop runs over all of them instead of one per row and column range, whose set-up cost
     20-30 % on 7- to 17-px maps (measured); the zeros add nothing to the sums. */
  const int whole = g->xpack != 0;
  for (int r = r0; r < r1; r++) {
    const int b = r / g->oh, oy = r - b * g->oh;
    const int iy = oy * g->sh - g->top + ky * g->dh;
    if (!whole && (iy < 0 || iy >= g->ih)) continue;
    const int first = whole ? 0 : ox0;
    const int steps = whole ? (r1 - r0) * g->ow : ox1 - ox0;
    const float *xp = g->x + ((b * g->ih + iy) * g->iw + ox0 * g->sw + xoff) * g->ci + c0;
    int xs = xstep;
    if (g->xpack) {
      xp = g->xpack + (((c0 >> 2) - g->xglo) * g->pn + (r - g->pr0) * g->ow + first) * 4;
      xs = 4;
    }
    const float *dp = g->dy + (r * g->ow + first) * g->co + o0;
    int dstep = g->co;
    if (NR == 8 && g->dpack) {
      dp = g->dpack + o0 * g->pn + ((r - g->pr0) * g->ow + first) * 8;
      dstep = 8;
    }
    for (int i = 0; i < steps; i++) {
      f4 d[4];
      for (int v = 0; v < NR / 4; v++) d[v] = ld(dp + 4 * v);
      for (int m = 0; m < MR; m++) {
        const f4 a = splat(xp + m);
        for (int v = 0; v < NR / 4; v++) acc[m][v] = madd(acc[m][v], a, d[v]);
      }
      xp += xs;
      dp += dstep;
    }
    if (whole) break;
  }
  for (int m = 0; m < MR; m++)
    for (int v = 0; v < NR / 4; v++) st(out + m * g->co + 4 * v, acc[m][v]);
}

/* Scalar tile for the last co % 4 output channels. */
static void fg_tile_scalar(const FilterGrad *g, int ky, int kx, int c0, int o0, int r0, int r1, int mr, int nr) {
  const int xoff = kx * g->dwd - g->left;
  const int ox0 = imax(0, ceildiv(-xoff, g->sw));
  const int ox1 = imin(g->ow, floordiv(g->iw - 1 - xoff, g->sw) + 1);
  if (ox1 <= ox0) return;
  float *out = g->dw + ((ky * g->kw + kx) * g->ci + c0) * g->co + o0;
  for (int m = 0; m < mr; m++) {
    for (int j = 0; j < nr; j++) {
      float s = out[m * g->co + j];
      for (int r = r0; r < r1; r++) {
        const int b = r / g->oh, oy = r - b * g->oh;
        const int iy = oy * g->sh - g->top + ky * g->dh;
        if (iy < 0 || iy >= g->ih) continue;
        const float *xp = g->x + ((b * g->ih + iy) * g->iw + ox0 * g->sw + xoff) * g->ci + c0 + m;
        const float *dp = g->dy + (r * g->ow + ox0) * g->co + o0 + j;
        for (int ox = ox0; ox < ox1; ox++) {
          s += *xp * *dp;
          xp += g->sw * g->ci;
          dp += g->co;
        }
      }
      out[m * g->co + j] = s;
    }
  }
}

static void fg_tiles(const FilterGrad *g, int ky, int kx, int c0, int mr, int r0, int r1) {
  int o0 = 0;
  switch (mr) {
    case 4:
      for (; o0 + 8 <= g->co; o0 += 8) fg_tile(g, ky, kx, c0, o0, r0, r1, 4, 8);
      for (; o0 + 4 <= g->co; o0 += 4) fg_tile(g, ky, kx, c0, o0, r0, r1, 4, 4);
      break;
    case 3:
      for (; o0 + 8 <= g->co; o0 += 8) fg_tile(g, ky, kx, c0, o0, r0, r1, 3, 8);
      for (; o0 + 4 <= g->co; o0 += 4) fg_tile(g, ky, kx, c0, o0, r0, r1, 3, 4);
      break;
    case 2:
      for (; o0 + 16 <= g->co; o0 += 16) fg_tile(g, ky, kx, c0, o0, r0, r1, 2, 16);
      for (; o0 + 4 <= g->co; o0 += 4) fg_tile(g, ky, kx, c0, o0, r0, r1, 2, 4);
      break;
    default:
      for (; o0 + 16 <= g->co; o0 += 16) fg_tile(g, ky, kx, c0, o0, r0, r1, 1, 16);
      for (; o0 + 4 <= g->co; o0 += 4) fg_tile(g, ky, kx, c0, o0, r0, r1, 1, 4);
      break;
  }
  if (o0 < g->co) fg_tile_scalar(g, ky, kx, c0, o0, r0, r1, mr, g->co - o0);
}

/* Repacks dy rows [r0, r1) into g->dpack (see FilterGrad): the tiles then read 8 consecutive floats per
   position instead of one 32-byte piece of each 4*co-byte row, which cost 30 % (measured: 14 against 21
   GMAC/s for ResNet-style 128->128 when every load hit the same lines). */
static void fg_pack_dy(FilterGrad *g, int r0, int r1) {
  const int np = (r1 - r0) * g->ow, co8 = g->co & ~7;
  g->pr0 = r0;
  g->pn = np;
  const float *src = g->dy + r0 * g->ow * g->co;
  for (int i = 0; i < np; i++, src += g->co) {
    float *d = g->dpack + i * 8;
    for (int o = 0; o < co8; o += 8, d += 8 * np) {
      st(d, ld(src + o));
      st(d + 4, ld(src + o + 4));
    }
  }
}

/* Repacks the x that tap (ky, kx) reads for output rows [r0, r1), input-channel groups [glo, ghi) (a part's),
   into g->xpack (see FilterGrad): 16
   consecutive bytes per position instead of 16 from each 4*sw*ci-byte step (the other half of that 30 %). */
static void fg_pack_x(FilterGrad *g, int ky, int kx, int r0, int r1, int glo, int ghi) {
  const int np = (r1 - r0) * g->ow, ci = g->ci, full = ci >> 2, tail = ci & 3;
  const int xoff = kx * g->dwd - g->left;
  const int ox0 = imax(0, ceildiv(-xoff, g->sw));
  const int ox1 = imin(g->ow, floordiv(g->iw - 1 - xoff, g->sw) + 1);
  const int vhi = imin(ghi, full);
  const f4 zero = wasm_f32x4_splat(0.f);
  g->pr0 = r0;
  g->pn = np;
  g->xtap = ky * g->kw + kx;
  g->xglo = glo;
  for (int r = r0; r < r1; r++) {
    const int b = r / g->oh, oy = r - b * g->oh;
    const int iy = oy * g->sh - g->top + ky * g->dh;
    const int inside = iy >= 0 && iy < g->ih && ox0 < ox1;
    const int lo = inside ? ox0 : g->ow, hi = inside ? ox1 : g->ow;
    float *row = g->xpack + (r - r0) * g->ow * 4;
    /* zeros where the tap reads padding (fg_tile sums every position of the block) */
    for (int ox = 0; ox < g->ow; ox++)
      if (ox < lo || ox >= hi)
        for (int c = 0; c < ghi - glo; c++) st(row + ox * 4 + c * np * 4, zero);
    if (!inside) continue;
    const float *src = g->x + ((b * g->ih + iy) * g->iw + ox0 * g->sw + xoff) * ci;
    float *d = row + ox0 * 4;
    for (int ox = ox0; ox < ox1; ox++, src += g->sw * ci, d += 4) {
      for (int c = glo; c < vhi; c++) st(d + (c - glo) * np * 4, ld(src + 4 * c));
      if (tail && ghi > full)
        for (int m = 0; m < tail; m++) d[(full - glo) * np * 4 + m] = src[4 * full + m];
    }
  }
}

/*
 * Filter gradient of a 2-D convolution, part `part` of `parts` (parts split the (tap, input-channel
 * group) pairs: disjoint entries of dw). dw must hold kh*kw*ci*co floats; this part's entries are
 * overwritten. Output rows are taken in blocks whose x and dy rows stay in cache. scratch: parts *
 * scratch_floats floats (or 0), where each block's dy is repacked (fg_pack_dy); the results are the same
 * bit for bit with or without it (same sums in the same order).
 */
EXPORT(conv2d_filter_grad)
void conv2d_filter_grad(const float *x, const float *dy, float *dw, int n, int ih, int iw, int ci, int oh, int ow, int co,
                        int kh, int kw, int sh, int sw, int dh, int dwd, int top, int left, float *scratch, int scratch_floats,
                        int part, int parts) {
  FilterGrad g = {x, dy, dw, n, ih, iw, ci, oh, ow, co, kh, kw, sh, sw, dh, dwd, top, left, 0, 0, 0, 0, -1, 0};
  const int groups = (ci + 3) / 4;
  const int units = kh * kw * groups;
  const int u0 = part_lo(units, part, parts), u1 = part_lo(units, part + 1, parts);
  for (int u = u0; u < u1; u++) {
    const int tap = u / groups, c0 = (u - tap * groups) * 4;
    float *out = dw + (tap * ci + c0) * co;
    const int mr = imin(4, ci - c0);
    for (int i = 0; i < mr * co; i++) out[i] = 0.f;
  }
  /* Rows per block: dy rows and the x rows they read within BLOCK_FLOATS (L2), and at least
     MIN_POSITIONS positions per tile pass so that loading and storing the dw tile stays negligible. */
  const int per_row = ow * co + sh * iw * ci;
  int block = (BLOCK_FLOATS - kh * iw * ci) / (per_row > 0 ? per_row : 1);
  block = imax(block, (MIN_POSITIONS + ow - 1) / ow);
  if (block < 1) block = 1;
  const int rows = n * oh;
  /* dy and x are repacked when the tiles of 8 output channels run (3 or 4 input channels per group) and a
     block's fit this part's scratch (nativeConv.ts, filterGradScratchFloats). */
  /* (x only where its positions are more than 8 floats apart: the stem's 3 channels are read in order anyway,
     and packing them cost 6 %) */
  const int tap_outer = kh * kw * ci * co > DW_FLOATS_TAP_OUTER;
  /* (x: only this part's groups of a tap, at most its unit count) */
  const int xpos = sw * ci > 8 ? imin(groups, u1 - u0) * 4 : 0, pos_floats = (co & ~7) + xpos;
  /* With a large dw (one tap at a time below) the blocks are as long as TAP_BLOCK_FLOATS of repacked dy and x
     (and the scratch) allow: each tile pass then sums over that many positions before its dw tile goes back
     to memory (blocks of 2 rows had made Inception-v3's 1x1, 1x7 and 3x3 filter gradients at 8-17 px 0.70x
     their forward conv's speed). */
  if (tap_outer && scratch && pos_floats > 0) {
    const int fit = imin(TAP_BLOCK_FLOATS, scratch_floats) / (ow * pos_floats);
    block = imax(block, imin(rows, fit));
  }
  const int dfloats = block * ow * (co & ~7), xfloats = xpos ? block * ow * xpos : 0;
  const int pack = scratch && ci >= 3 && co >= 8 && dfloats + xfloats <= scratch_floats;
  if (pack) {
    g.dpack = scratch + part * scratch_floats;
    if (xfloats) g.xpack = g.dpack + dfloats;
  }
  if (tap_outer) {
  /* A large dw (more than L2 holds): one tap at a time (its dw, ci*co floats, stays in L2), blocks of rows
     within it (measured on this machine: 13.8 against 11.2 GMAC/s for Inception-v3's 288→384). */
  for (int ua = u0; ua < u1;) {
    const int tap = ua / groups;
    const int ub = imin(u1, (tap + 1) * groups);
    const int ky = tap / kw, kx = tap - ky * kw;
    for (int r0 = 0; r0 < rows; r0 += block) {
      const int r1 = imin(rows, r0 + block);
      if (pack) {
        fg_pack_dy(&g, r0, r1);
        if (g.xpack) fg_pack_x(&g, ky, kx, r0, r1, ua - tap * groups, ub - tap * groups);
      }
      for (int u = ua; u < ub; u++) {
        const int c0 = (u - tap * groups) * 4;
        fg_tiles(&g, ky, kx, c0, imin(4, ci - c0), r0, r1);
      }
    }
    ua = ub;
  }
  } else {
  /* A small dw: blocks of rows, every tap of this part within each (x and dy rows stay in L1). */
  for (int r0 = 0; r0 < rows; r0 += block) {
    const int r1 = imin(rows, r0 + block);
    if (pack && u1 > u0) fg_pack_dy(&g, r0, r1);
    g.xtap = -1;
    for (int u = u0; u < u1; u++) {
      const int tap = u / groups, c0 = (u - tap * groups) * 4;
      const int ky = tap / kw, kx = tap - ky * kw;
      if (g.xpack && tap != g.xtap) fg_pack_x(&g, ky, kx, r0, r1, imax(u0, tap * groups) - tap * groups, imin(u1, (tap + 1) * groups) - tap * groups);
      fg_tiles(&g, ky, kx, c0, imin(4, ci - c0), r0, r1);
    }
  }
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Convolution and its input gradient, as one implicit GEMM over taps (no im2col, no zero insertion):  */
/*  forward     out[n][oy][ox][co] = bias[co] + sum over ky, kx, ci of                                 */
/*              a[n][oy*sh - top + ky*dh][ox*sw - left + kx*dw][ci] * w[ky][kx][ci][co]               */
/*  transposed  out[n][iy][ix][ci] = sum over ky, kx, co of a[n][oy][ox][co] * w[ky][kx][ci][co]       */
/*              where iy + top - ky*dh = oy*sh and ix + left - kx*dw = ox*sw (the input gradient:   */
/*              a = dy; each column phase of a stride visits only the taps that reach it).          */
/* Output channels go in panels of 8 (4 when at most 4 are left); a tile is 4 positions x 8 channels */
/* (6 x 4): 8 and 6 accumulators, the most V8 keeps in x64 registers (more spill: measured 21 against */
/* 12 GMAC/s for 6 x 8 on this machine).                                                           */
/* V8 (Node 20) places every load of a loop step before its arithmetic, so the accumulators, the step's loads */
/* and one product temporary must fit in xmm0-14: unrolling the depth loop by 2 (4 + 8 loads) spills and ran */
/* 30 % slower. The step is bound by instruction dispatch (29 x64 instructions for 32 multiply-adds: 16 FP,  */
/* 6 loads, 5 address adds, loop), hence conv_tile8_<pitch> below, which drops 3 of the adds.              */
/* ------------------------------------------------------------------------------------------------ */

/*
 * Packs w [kh][kw][ci][co] into panels p[tap][group][k][8], k over the reduced channels, lanes over 8
 * output channels (zeros past the last): forward (transposed = 0) reduces ci and outputs co; the input
 * gradient (transposed = 1) reduces co and outputs ci. Parts split the taps.
 */
EXPORT(pack_filter)
void pack_filter(const float *w, float *p, int kh, int kw, int ci, int co, int transposed, int part, int parts) {
  const int outc = transposed ? ci : co, depth = transposed ? co : ci;
  const int groups = (outc + 7) / 8;
  const int taps = kh * kw;
  const int t0 = part_lo(taps, part, parts), t1 = part_lo(taps, part + 1, parts);
  for (int t = t0; t < t1; t++) {
    const float *wt = w + t * ci * co;
    for (int g = 0; g < groups; g++) {
      float *dst = p + ((t * groups + g) * depth) * 8;
      for (int k = 0; k < depth; k++) {
        for (int l = 0; l < 8; l++) {
          const int c = g * 8 + l;
          dst[k * 8 + l] = c < outc ? (transposed ? wt[c * co + k] : wt[k * co + c]) : 0.f;
        }
      }
    }
  }
}

/* Stores the first `valid` (1..8) of 8 lanes held in a and b. */
INLINE void store_lanes(float *dst, f4 a, f4 b, int valid) {
  if (valid >= 8) {
    st(dst, a);
    st(dst + 4, b);
    return;
  }
  if (valid >= 4) {
    st(dst, a);
    a = b;
    dst += 4;
    valid -= 4;
  }
  if (valid > 0) dst[0] = wasm_f32x4_extract_lane(a, 0);
  if (valid > 1) dst[1] = wasm_f32x4_extract_lane(a, 1);
  if (valid > 2) dst[2] = wasm_f32x4_extract_lane(a, 2);
}

/*
 * 4 positions x 8 output channels: for each of the nt taps, ap[4*t + m] points at position m's reduced
 * channels (a row of zeros where the tap falls outside the input), pp[t] at the tap's panel.
 */
INLINE void tile8(const float *const *ap, const float *const *pp, int nt, int depth, float *out, int ostep, f4 bias0, f4 bias1,
                  int relu, int valid, int rows, const int pitch) {
  f4 a00 = bias0, a01 = bias1, a10 = bias0, a11 = bias1, a20 = bias0, a21 = bias1, a30 = bias0, a31 = bias1;
  for (int t = 0; t < nt; t++) {
    const float *x0 = ap[4 * t], *x1 = ap[4 * t + 1], *x2 = ap[4 * t + 2], *x3 = ap[4 * t + 3];
    const float *p = pp[t];
    if (pitch) {
      /* x1, x2, x3 at x0 + pitch, 2*pitch, 3*pitch: constant load offsets from one pointer */
      for (const float *x = x0, *const xe = x0 + depth; x < xe; x++, p += 8) {
        const f4 b0 = ld(p), b1 = ld(p + 4);
        f4 s = splat(x);
        a00 = madd(a00, s, b0);
        a01 = madd(a01, s, b1);
        s = splat(x + pitch);
        a10 = madd(a10, s, b0);
        a11 = madd(a11, s, b1);
        s = splat(x + 2 * pitch);
        a20 = madd(a20, s, b0);
        a21 = madd(a21, s, b1);
        s = splat(x + 3 * pitch);
        a30 = madd(a30, s, b0);
        a31 = madd(a31, s, b1);
      }
      continue;
    }
    for (int k = 0; k < depth; k++) {
      const f4 b0 = ld(p), b1 = ld(p + 4);
      p += 8;
      f4 s = splat(x0 + k);
      a00 = madd(a00, s, b0);
      a01 = madd(a01, s, b1);
      s = splat(x1 + k);
      a10 = madd(a10, s, b0);
      a11 = madd(a11, s, b1);
      s = splat(x2 + k);
      a20 = madd(a20, s, b0);
      a21 = madd(a21, s, b1);
      s = splat(x3 + k);
      a30 = madd(a30, s, b0);
      a31 = madd(a31, s, b1);
    }
  }
  if (relu) {
    const f4 z = wasm_f32x4_splat(0.f);
    a00 = wasm_f32x4_max(a00, z); a01 = wasm_f32x4_max(a01, z);
    a10 = wasm_f32x4_max(a10, z); a11 = wasm_f32x4_max(a11, z);
    a20 = wasm_f32x4_max(a20, z); a21 = wasm_f32x4_max(a21, z);
    a30 = wasm_f32x4_max(a30, z); a31 = wasm_f32x4_max(a31, z);
  }
  store_lanes(out, a00, a01, valid);
  if (rows > 1) store_lanes(out + ostep, a10, a11, valid);
  if (rows > 2) store_lanes(out + 2 * ostep, a20, a21, valid);
  if (rows > 3) store_lanes(out + 3 * ostep, a30, a31, valid);
}

/* Any 4 positions (per-tap indirection: edge columns, a stride's phases). */
INLINE void conv_tile8(const float *const *ap, const float *const *pp, int nt, int depth, float *out, int ostep, f4 bias0, f4 bias1,
                       int relu, int valid, int rows) {
  tile8(ap, pp, nt, depth, out, ostep, bias0, bias1, relu, valid, rows, 0);
}

/* 4 positions a constant pitch apart in every tap (interior columns) and a full panel of 8 channels: one
   function per pitch, so that the other three rows are wasm load offsets from one pointer and V8 spends no
   register or add on them (25 instead of 29 x64 instructions per step of the depth loop; 3-10 % on the paper
   nets' layers, bench/convFloorKernels.ts). Not inlined: V8's register allocation of conv2d degrades with
   dozens of inlined loops (measured 2x slower). The pitches (floats): multiples of 32 up to 1024 and the
   other channel counts of the paper nets (times the stride for a strided forward conv). Same sums in the
   same order as conv_tile8, so results are bit for bit the same. */
#define SPACED_PITCHES(X) \
  X(16) X(32) X(48) X(64) X(80) X(96) X(128) X(160) X(192) X(224) \
  X(256) X(288) X(320) X(352) X(384) X(416) X(448) X(480) X(512) X(544) \
  X(576) X(608) X(640) X(672) X(704) X(736) X(768) X(800) X(832) X(864) \
  X(896) X(928) X(960) X(992) X(1024) X(1152) X(1280) X(1536) X(2048)
#define X(D)                                                                                                               \
  __attribute__((noinline)) static void conv_tile8_##D(const float *const *ap, const float *const *pp, int nt, int depth,      \
                                                        float *out, int ostep, f4 bias0, f4 bias1, int relu) {               \
    tile8(ap, pp, nt, depth, out, ostep, bias0, bias1, relu, 8, 4, D);                                                     \
  }
SPACED_PITCHES(X)
#undef X

/* Runs the pitch's tile and returns 1, or returns 0 for a pitch without one. */
INLINE int conv_tile8_spaced(int pitch, const float *const *ap, const float *const *pp, int nt, int depth, float *out, int ostep,
                             f4 bias0, f4 bias1, int relu) {
  switch (pitch) {
#define X(D)                                                             \
    case D:                                                              \
      conv_tile8_##D(ap, pp, nt, depth, out, ostep, bias0, bias1, relu); \
      return 1;
    SPACED_PITCHES(X)
#undef X
    default:
      return 0;
  }
}

/* The same for a panel of which at most 4 lanes are used. */
INLINE void conv_tile4(const float *const *ap, const float *const *pp, int nt, int depth, float *out, int ostep, f4 bias0, int relu,
                       int valid, int rows) {
  f4 a0 = bias0, a1 = bias0, a2 = bias0, a3 = bias0;
  for (int t = 0; t < nt; t++) {
    const float *x0 = ap[4 * t], *x1 = ap[4 * t + 1], *x2 = ap[4 * t + 2], *x3 = ap[4 * t + 3];
    const float *p = pp[t];
    for (int k = 0; k < depth; k++) {
      const f4 b0 = ld(p);
      p += 8;
      a0 = madd(a0, splat(x0 + k), b0);
      a1 = madd(a1, splat(x1 + k), b0);
      a2 = madd(a2, splat(x2 + k), b0);
      a3 = madd(a3, splat(x3 + k), b0);
    }
  }
  if (relu) {
    const f4 z = wasm_f32x4_splat(0.f);
    a0 = wasm_f32x4_max(a0, z); a1 = wasm_f32x4_max(a1, z); a2 = wasm_f32x4_max(a2, z); a3 = wasm_f32x4_max(a3, z);
  }
  const f4 z = wasm_f32x4_splat(0.f);
  store_lanes(out, a0, z, valid);
  if (rows > 1) store_lanes(out + ostep, a1, z, valid);
  if (rows > 2) store_lanes(out + 2 * ostep, a2, z, valid);
  if (rows > 3) store_lanes(out + 3 * ostep, a3, z, valid);
}

/* Lanes [c, c + 4) of bias (zeros past outc, or without bias). */
INLINE f4 bias_lanes(const float *bias, int c, int outc) {
  if (!bias) return wasm_f32x4_splat(0.f);
  if (c + 4 <= outc) return ld(bias + c);
  f4 v = wasm_f32x4_splat(0.f);
  if (c < outc) v = wasm_f32x4_replace_lane(v, 0, bias[c]);
  if (c + 1 < outc) v = wasm_f32x4_replace_lane(v, 1, bias[c + 1]);
  if (c + 2 < outc) v = wasm_f32x4_replace_lane(v, 2, bias[c + 2]);
  return v;
}

/* Runs the tiles of one block of positions for every group of 8 output channels (see conv2d). */
INLINE void conv_groups(const float *const *ind, const float **act_p, int na, int depth, float *o, int ostep, const float *bias, int outc,
                        int relu, int count, int spaced, int pitch) {
  const int groups = (outc + 7) / 8;
  for (int g = 0; g < groups; g++) {
    const int c0 = g * 8;
    const int valid = imin(8, outc - c0);
    /* panels of group g: offset from group 0 */
    const int goff = g * depth * 8;
    for (int t = 0; t < na; t++) act_p[t] += goff;
    if (valid == 8 && spaced && conv_tile8_spaced(pitch, ind, act_p, na, depth, o + c0, ostep, bias_lanes(bias, c0, outc),
                                                  bias_lanes(bias, c0 + 4, outc), relu))
      ;
    else if (valid > 4)
      conv_tile8(ind, act_p, na, depth, o + c0, ostep, bias_lanes(bias, c0, outc), bias_lanes(bias, c0 + 4, outc), relu, valid, count);
    else
      conv_tile4(ind, act_p, na, depth, o + c0, ostep, bias_lanes(bias, c0, outc), relu, valid, count);
    for (int t = 0; t < na; t++) act_p[t] -= goff;
  }
}

/*
 * conv2d over tiles of 4 consecutive positions of an image in row-major order (a tile may cross rows), for
 * a forward convolution or a stride-1-wide input gradient (one column phase). Parts split the tiles. Each
 * position sums the same taps in the same order as conv2d's row tiles; a tap that reaches another position
 * of the tile but not this one adds a row of zeros (+0, as conv2d's edge tiles do). Tiles never cross
 * images, so an image's result does not depend on the batch around it.
 */
#ifndef FLAT_BAND
#define FLAT_BAND 8
#endif
#ifndef PANEL_CHUNK_FLOATS
#define PANEL_CHUNK_FLOATS (32 * 1024)
#endif

/* The taps of tile u (4 consecutive positions of an image) and their rows of a (zeros where a position's tap
   falls outside a); returns the number of active taps, sets *count and *spaced, *o the output. */
INLINE int flat_tile(const float *a, const float *p, float *out, const float *zeros, const float **ind, const float **act_p, int ah,
                     int aw, int depth, int oh, int ow, int outc, int kh, int kw, int sh, int sw, int dh, int dwd, int top, int left,
                     int transposed, int tiles, int u, int *count, int *spaced, float **o) {
  const int per = oh * ow;
  const int groups = (outc + 7) / 8;
  const int pitch = (transposed ? 1 : sw) * depth;
  const int b = u / tiles, q0 = (u - b * tiles) * 4;
  const int cnt = imin(4, per - q0);
  int ys[4], xs[4];
  for (int m = 0; m < 4; m++) {
    const int q = q0 + imin(m, cnt - 1);
    ys[m] = q / ow;
    xs[m] = q - ys[m] * ow;
  }
  const float *ab = a + (long)b * ah * aw * depth;
  int na = 0, sp = cnt == 4;
  for (int ky = 0; ky < kh; ky++) {
    for (int kx = 0; kx < kw; kx++) {
      const float *ptr[4];
      int any = 0, all = 1;
      for (int m = 0; m < 4; m++) {
        int ay, ax, ok = m < cnt;
        if (transposed) {
          const int ty = ys[m] + top - ky * dh;
          ok = ok && ty >= 0 && ty % sh == 0;
          ay = ty / sh;
          ax = xs[m] + left - kx * dwd;
        } else {
          ay = ys[m] * sh - top + ky * dh;
          ax = xs[m] * sw - left + kx * dwd;
        }
        ok = ok && ay >= 0 && ay < ah && ax >= 0 && ax < aw;
        ptr[m] = ok ? ab + ((long)ay * aw + ax) * depth : zeros;
        any |= ok;
        all &= ok;
      }
      if (!any) continue;
      sp &= all && ptr[1] == ptr[0] + pitch && ptr[2] == ptr[0] + 2 * pitch && ptr[3] == ptr[0] + 3 * pitch;
      for (int m = 0; m < 4; m++) ind[4 * na + m] = ptr[m];
      act_p[na] = p + (long)(ky * kw + kx) * groups * depth * 8;
      na++;
    }
  }
  *count = cnt;
  *spaced = sp;
  *o = out + ((long)b * per + q0) * outc;
  return na;
}

/*
 * conv2d over tiles of 4 consecutive positions of an image in row-major order (a tile may cross rows), for
 * a forward convolution or a stride-1-wide input gradient (one column phase). Parts split the tiles. Each
 * position sums the same taps in the same order as conv2d's row tiles; a tap that reaches another position
 * of the tile but not this one adds a row of zeros (+0, as conv2d's edge tiles do). Tiles never cross
 * images, so an image's result does not depend on the batch around it.
 * Bands of FLAT_BAND tiles run one chunk of output-channel groups at a time, the chunk's panels within
 * PANEL_CHUNK_FLOATS: with 512 channels a 3x3 filter's panels take 9.4 MB, which conv2d's row tiles stream
 * whole for every tile; here a chunk stays in L2 while the band's tiles reuse it.
 */
static void conv_flat(const float *a, const float *p, const float *bias, float *out, const float *zeros, int *scratch, int n, int ah,
                      int aw, int depth, int oh, int ow, int outc, int kh, int kw, int sh, int sw, int dh, int dwd, int top, int left,
                      int transposed, int relu, int part, int parts) {
  const int taps = kh * kw;
  const int groups = (outc + 7) / 8;
  int *ws = scratch + 9 * taps * part;
  const float **ind = (const float **)(ws + 4 * taps);   /* 4 per active tap */
  const float **act_p = (const float **)(ws + 8 * taps); /* 1 per active tap */
  const int tiles = (oh * ow + 3) / 4;
  const int pitch = (transposed ? 1 : sw) * depth;
  const int u0 = part_lo(n * tiles, part, parts), u1 = part_lo(n * tiles, part + 1, parts);
  const int chunk = imax(1, PANEL_CHUNK_FLOATS / imax(1, taps * depth * 8));
  for (int ub = u0; ub < u1; ub += FLAT_BAND) {
    const int ue = imin(u1, ub + FLAT_BAND);
    for (int g0 = 0; g0 < groups; g0 += chunk) {
      const int g1 = imin(groups, g0 + chunk);
      for (int u = ub; u < ue; u++) {
        int count, spaced;
        float *o;
        const int na = flat_tile(a, p, out, zeros, ind, act_p, ah, aw, depth, oh, ow, outc, kh, kw, sh, sw, dh, dwd, top, left, transposed,
                                 tiles, u, &count, &spaced, &o);
        for (int t = 0; t < na; t++) act_p[t] += g0 * depth * 8;
        conv_groups(ind, act_p, na, depth, o + g0 * 8, outc, bias ? bias + g0 * 8 : 0, imin(outc - g0 * 8, (g1 - g0) * 8), relu, count,
                    spaced, pitch);
      }
    }
  }
}

/*
 * Convolution (transposed = 0) or its input gradient (transposed = 1) for the output rows of part `part`
 * (rows n*oh + y of `out`). a: [n][ah][aw][depth]; out: [n][oh][ow][outc]; p: pack_filter's panels (the
 * same `transposed`); bias: outc floats or 0 (forward only); relu: clamp at 0 (forward only); zeros: depth
 * zero floats (read where a tap falls outside a); scratch: 9*kh*kw words per part.
 * Output columns go in blocks of 4 (one phase of the stride for the input gradient); for each block an
 * indirection list holds, per tap, the 4 positions' rows of a, so that edge columns run the same tile.
 */
EXPORT(conv2d)
void conv2d(const float *a, const float *p, const float *bias, float *out, const float *zeros, int *scratch, int n, int ah, int aw,
            int depth, int oh, int ow, int outc, int kh, int kw, int sh, int sw, int dh, int dwd, int top, int left, int transposed,
            int relu, int part, int parts) {
  const int taps = kh * kw;
  const int groups = (outc + 7) / 8;
  int *ws = scratch + 9 * taps * part;
  int *lo = ws, *hi = ws + taps;
  const float **abase = (const float **)(ws + 2 * taps);
  const float **panel0 = (const float **)(ws + 3 * taps);
  const float **ind = (const float **)(ws + 4 * taps);   /* 4 per active tap */
  const float **act_p = (const float **)(ws + 8 * taps); /* 1 per active tap */
  const int phases = transposed ? sw : 1;
  const int astride = transposed ? 1 : sw;
  /* Rows whose width is not a multiple of 4 (Inception-v3's 17, 35 and 73, AttnVGG's 14 and 7) waste the
     unused positions of each row's last tile, up to 3/4 of it: 17 columns cost 20. There (more than 5 % wasted),
     and where the filter's panels pass 3 MB (3x3 with 448-512 channels: the row tiles then stream them from L3
     for every tile, 12.8 against 17.2 GMAC/s for AttnVGG's 512→512 at 28 px; at 2.4 MB, 256→256, no gain), the tiles take 4 consecutive positions of an image in row-major
     order instead, crossing rows, and the output channels go in L2-sized chunks (conv_flat). */
  if (phases == 1 && depth >= 16 && (20 * ((4 - ow % 4) % 4) > ow || (long)taps * depth * outc > 24 * PANEL_CHUNK_FLOATS)) {
    conv_flat(a, p, bias, out, zeros, scratch, n, ah, aw, depth, oh, ow, outc, kh, kw, sh, sw, dh, dwd, top, left, transposed, relu, part, parts);
    return;
  }
  const int rows = n * oh;
  const int r0 = part_lo(rows, part, parts), r1 = part_lo(rows, part + 1, parts);
  for (int r = r0; r < r1; r++) {
    const int b = r / oh, y = r - b * oh;
    float *orow = out + (long)r * ow * outc;
    for (int phase = 0; phase < phases && phase < ow; phase++) {
      const int ncols = (ow - phase + phases - 1) / phases;
      const int ostep = phases * outc;
      /* the taps that reach this row and phase, with the columns j where each reads inside a */
      int nt = 0;
      for (int ky = 0; ky < kh; ky++) {
        int ay;
        if (transposed) {
          const int ty = y + top - ky * dh;
          if (ty < 0 || ty % sh != 0) continue;
          ay = ty / sh;
        } else {
          ay = y * sh - top + ky * dh;
        }
        if (ay < 0 || ay >= ah) continue;
        const float *arow = a + ((long)b * ah + ay) * aw * depth;
        for (int kx = 0; kx < kw; kx++) {
          int d;
          if (transposed) {
            const int tx = phase + left - kx * dwd;
            if (((tx % sw) + sw) % sw != 0) continue;
            d = floordiv(tx, sw);
          } else {
            d = kx * dwd - left;
          }
          /* column j reads a column j*astride + d, inside [0, aw) for j in [jl, jh) */
          const int jl = imax(0, ceildiv(-d, astride));
          const int jh = imin(ncols, floordiv(aw - 1 - d, astride) + 1);
          if (jh <= jl) continue;
          lo[nt] = jl;
          hi[nt] = jh;
          abase[nt] = arow + d * depth;
          panel0[nt] = p + (long)(ky * kw + kx) * groups * depth * 8;
          nt++;
        }
      }
      for (int j = 0; j < ncols; j += 4) {
        const int count = imin(4, ncols - j);
        /* indirection for the taps that reach any of columns j..j+3 */
        int na = 0;
        /* every active tap reads all 4 columns inside a: rows a pitch of astride*depth apart */
        int spaced = count == 4;
        for (int t = 0; t < nt; t++) {
          if (lo[t] >= j + count || hi[t] <= j) continue;
          spaced &= lo[t] <= j && hi[t] >= j + 4;
          for (int m = 0; m < 4; m++) {
            const int c = j + m;
            ind[4 * na + m] = (m < count && c >= lo[t] && c < hi[t]) ? abase[t] + c * astride * depth : zeros;
          }
          act_p[na] = panel0[t];
          na++;
        }
        conv_groups(ind, act_p, na, depth, orow + (phase + j * phases) * outc, ostep, bias, outc, relu, count, spaced, astride * depth);
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions and their input gradients (Lavin and Gray 2016):  */
/* Y = A' [ (G g G') .* (B' d B) ] A per tile of 2x2 outputs (a 4x4 patch of the input), so a tile costs */
/* 16 instead of 36 multiply-adds per input and output channel. The 16 products of a block of tiles are */
/* 16 one-tap GEMMs that run on conv_groups (the direct conv's tiles), with U = G g G' as their panels.  */
/*   B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],            */
/*   A' = [1 1 1 0; 0 1 -1 -1]  (cross-correlation, as tfjs's conv2d).                                   */
/* Results agree with the direct sums to float rounding, not bit for bit.                              */
/* ------------------------------------------------------------------------------------------------ */

/*
 * U = G g G' for every (reduced channel, output channel) pair, in pack_filter's panel layout once per
 * transform position xi = 4*i + j: u[(xi * groups + g) * depth * 8 + k * 8 + l]. transposed = 0: the forward
 * conv of w [3][3][ci][co] (depth ci, outputs co); 1: its input gradient, the forward conv with the filter
 * flipped and its channels swapped (depth co, outputs ci). Parts split the groups of 8 outputs.
 */
EXPORT(winograd_filter)
void winograd_filter(const float *w, float *u, int ci, int co, int transposed, int part, int parts) {
  const int outc = transposed ? ci : co, depth = transposed ? co : ci;
  const int groups = (outc + 7) / 8;
  const long plane = (long)groups * depth * 8;
  const int g0 = part_lo(groups, part, parts), g1 = part_lo(groups, part + 1, parts);
  for (int g = g0; g < g1; g++) {
    for (int k = 0; k < depth; k++) {
      for (int l = 0; l < 8; l++) {
        const int c = g * 8 + l;
        float f[3][3], t[4][3];
        for (int y = 0; y < 3; y++)
          for (int x = 0; x < 3; x++)
            f[y][x] = c >= outc ? 0.f : transposed ? w[((2 - y) * 3 + (2 - x)) * ci * co + c * co + k] : w[(y * 3 + x) * ci * co + k * co + c];
        for (int x = 0; x < 3; x++) {
          t[0][x] = f[0][x];
          t[1][x] = 0.5f * (f[0][x] + f[1][x] + f[2][x]);
          t[2][x] = 0.5f * (f[0][x] - f[1][x] + f[2][x]);
          t[3][x] = f[2][x];
        }
        float *dst = u + (long)g * depth * 8 + k * 8 + l;
        for (int i = 0; i < 4; i++) {
          dst[(4 * i + 0) * plane] = t[i][0];
          dst[(4 * i + 1) * plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
          dst[(4 * i + 2) * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
          dst[(4 * i + 3) * plane] = t[i][2];
        }
      }
    }
  }
}

/* The most tiles per block: V (16 x tiles x depth) and M (16 x tiles x outc) within about WINO_BLOCK_FLOATS, so
   that they stay in L2 (a multiple of 4, 4 to 64). The caller picks the block (bt, at most this) and gives each
   part 16 * bt * (depth + outc) + 16 floats of scratch (V, M and the indirection words). */
#ifndef WINO_BLOCK_FLOATS
#define WINO_BLOCK_FLOATS (96 * 1024)
#endif
EXPORT(winograd_block_tiles)
int winograd_block_tiles(int depth, int outc) { return imax(4, imin(64, WINO_BLOCK_FLOATS / (16 * (depth + outc)) / 4 * 4)); }

/* The 16 rows of a's channels under tile (b, ty, tx)'s 4x4 input patch, zeros where the patch leaves a. */
INLINE void wino_patch(const float *a, const float *zeros, const float *row[4][4], int b, int ty, int tx, int ah, int aw, int depth, int top,
                       int left) {
  for (int i = 0; i < 4; i++) {
    const int ay = 2 * ty - top + i;
    for (int j = 0; j < 4; j++) {
      const int ax = 2 * tx - left + j;
      row[i][j] = ay >= 0 && ay < ah && ax >= 0 && ax < aw ? a + (((long)b * ah + ay) * aw + ax) * depth : zeros;
    }
  }
}

/* The first n (1..4) floats at p in the low lanes, zeros in the others. */
INLINE f4 ld_upto(const float *p, int n) {
  if (n >= 4) return ld(p);
  f4 v = wasm_f32x4_splat(0.f);
  v = wasm_f32x4_replace_lane(v, 0, p[0]);
  if (n > 1) v = wasm_f32x4_replace_lane(v, 1, p[1]);
  if (n > 2) v = wasm_f32x4_replace_lane(v, 2, p[2]);
  return v;
}

/* B' d B for 4 channels of a 4x4 patch d (row-major), into v[4i + j]: B' along the patch's rows, then its columns. */
INLINE void wino_bt_d_b(const f4 d[4][4], f4 v[16]) {
  f4 r[4][4];
  for (int i = 0; i < 4; i++) {
    r[i][0] = wasm_f32x4_sub(d[i][0], d[i][2]);
    r[i][1] = wasm_f32x4_add(d[i][1], d[i][2]);
    r[i][2] = wasm_f32x4_sub(d[i][2], d[i][1]);
    r[i][3] = wasm_f32x4_sub(d[i][1], d[i][3]);
  }
  for (int j = 0; j < 4; j++) {
    v[0 * 4 + j] = wasm_f32x4_sub(r[0][j], r[2][j]);
    v[1 * 4 + j] = wasm_f32x4_add(r[1][j], r[2][j]);
    v[2 * 4 + j] = wasm_f32x4_sub(r[2][j], r[1][j]);
    v[3 * 4 + j] = wasm_f32x4_sub(r[1][j], r[3][j]);
  }
}

/* V rows of tiles [t0, t0 + nt) of the block: the 4x4 input patch of each tile (zeros outside a), B' d B. */
static void wino_input(const float *a, const float *zeros, float *v, int bt, int ah, int aw, int depth, int th, int tw, int top, int left,
                       int t0, int nt) {
  const long plane = (long)bt * depth;
  for (int t = 0; t < nt; t++) {
    const int u = t0 + t, per = th * tw, b = u / per, q = u - b * per, ty = q / tw, tx = q - ty * tw;
    const float *row[4][4];
    wino_patch(a, zeros, row, b, ty, tx, ah, aw, depth, top, left);
    float *dst = v + (long)t * depth;
    int c = 0;
    for (; c + 4 <= depth; c += 4) {
      f4 d[4][4], vx[16];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) d[i][j] = ld(row[i][j] + c);
      wino_bt_d_b(d, vx);
      for (int xi = 0; xi < 16; xi++) st(dst + xi * plane + c, vx[xi]);
    }
    for (; c < depth; c++) {
      float r[4][4];
      for (int i = 0; i < 4; i++) {
        const float d0 = row[i][0][c], d1 = row[i][1][c], d2 = row[i][2][c], d3 = row[i][3][c];
        r[i][0] = d0 - d2;
        r[i][1] = d1 + d2;
        r[i][2] = d2 - d1;
        r[i][3] = d1 - d3;
      }
      for (int j = 0; j < 4; j++) {
        dst[(0 * 4 + j) * plane + c] = r[0][j] - r[2][j];
        dst[(1 * 4 + j) * plane + c] = r[1][j] + r[2][j];
        dst[(2 * 4 + j) * plane + c] = r[2][j] - r[1][j];
        dst[(3 * 4 + j) * plane + c] = r[1][j] - r[3][j];
      }
    }
  }
}

/* A' M A for tiles [t0, t0 + nt) of the block, plus bias, ReLU; only the outputs inside out are stored. */
static void wino_output(const float *m, const float *bias, float *out, int bt, int oh, int ow, int outc, int th, int tw, int relu, int t0,
                        int nt) {
  const long plane = (long)bt * outc;
  const f4 zero = wasm_f32x4_splat(0.f);
  for (int t = 0; t < nt; t++) {
    const int u = t0 + t, per = th * tw, b = u / per, q = u - b * per, ty = q / tw, tx = q - ty * tw;
    const int y0 = 2 * ty, x0 = 2 * tx;
    const int rows = imin(2, oh - y0), cols = imin(2, ow - x0);
    float *o = out + (((long)b * oh + y0) * ow + x0) * outc;
    const float *src = m + (long)t * outc;
    int c = 0;
    for (; c + 4 <= outc; c += 4) {
      f4 s[2][4];
      for (int j = 0; j < 4; j++) {
        const f4 m0 = ld(src + (0 * 4 + j) * plane + c), m1 = ld(src + (1 * 4 + j) * plane + c);
        const f4 m2 = ld(src + (2 * 4 + j) * plane + c), m3 = ld(src + (3 * 4 + j) * plane + c);
        s[0][j] = wasm_f32x4_add(wasm_f32x4_add(m0, m1), m2);
        s[1][j] = wasm_f32x4_sub(wasm_f32x4_sub(m1, m2), m3);
      }
      const f4 bv = bias ? ld(bias + c) : zero;
      for (int i = 0; i < rows; i++) {
        f4 y0v = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(s[i][0], s[i][1]), s[i][2]), bv);
        f4 y1v = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_sub(s[i][1], s[i][2]), s[i][3]), bv);
        if (relu) {
          y0v = wasm_f32x4_max(y0v, zero);
          y1v = wasm_f32x4_max(y1v, zero);
        }
        st(o + (long)i * ow * outc + c, y0v);
        if (cols > 1) st(o + ((long)i * ow + 1) * outc + c, y1v);
      }
    }
    for (; c < outc; c++) {
      float s[2][4];
      for (int j = 0; j < 4; j++) {
        const float m0 = src[(0 * 4 + j) * plane + c], m1 = src[(1 * 4 + j) * plane + c];
        const float m2 = src[(2 * 4 + j) * plane + c], m3 = src[(3 * 4 + j) * plane + c];
        s[0][j] = m0 + m1 + m2;
        s[1][j] = m1 - m2 - m3;
      }
      const float bv = bias ? bias[c] : 0.f;
      for (int i = 0; i < rows; i++) {
        float y0v = s[i][0] + s[i][1] + s[i][2] + bv;
        float y1v = s[i][1] - s[i][2] - s[i][3] + bv;
        if (relu) {
          y0v = y0v > 0.f ? y0v : 0.f;
          y1v = y1v > 0.f ? y1v : 0.f;
        }
        o[(long)i * ow * outc + c] = y0v;
        if (cols > 1) o[((long)i * ow + 1) * outc + c] = y1v;
      }
    }
  }
}

/*
 * A 3x3 stride-1 convolution through Winograd F(2x2, 3x3): a [n][ah][aw][depth], out [n][oh][ow][outc],
 * padding top/left (zeros outside a), u: winograd_filter's panels, bias: outc floats or 0, relu: clamp at 0.
 * zeros: depth zero floats (rounded up to 4); bt: tiles per block (a multiple of 4, at most
 * winograd_block_tiles(depth, outc)); scratch: 16 * bt * (depth + outc) + 16 floats per part.
 * Parts split the tiles of 2x2 outputs; a tile never crosses images and its arithmetic does not depend on the
 * block or part it falls in, so an image's result does not depend on the batch or the thread count.
 */
EXPORT(conv2d_winograd)
void conv2d_winograd(const float *a, const float *u, const float *bias, float *out, const float *zeros, float *scratch, int n, int ah, int aw,
                     int depth, int oh, int ow, int outc, int top, int left, int relu, int bt, int part, int parts) {
  const int th = (oh + 1) / 2, tw = (ow + 1) / 2, total = n * th * tw;
  const int groups = (outc + 7) / 8;
  float *ws = scratch + (long)part * (16L * bt * (depth + outc) + 16);
  float *v = ws, *m = ws + 16L * bt * depth;
  const float **ind = (const float **)(m + 16L * bt * outc); /* 4 words */
  const float **act_p = ind + 4;                             /* 1 word */
  const long uplane = (long)groups * depth * 8;
  const int chunk = imax(1, PANEL_CHUNK_FLOATS / imax(1, depth * 8));
  const int t0 = part_lo(total, part, parts), t1 = part_lo(total, part + 1, parts);
  for (int b0 = t0; b0 < t1; b0 += bt) {
    const int nb = imin(bt, t1 - b0);
    wino_input(a, zeros, v, bt, ah, aw, depth, th, tw, top, left, b0, nb);
    for (int xi = 0; xi < 16; xi++) {
      const float *vx = v + (long)xi * bt * depth;
      float *mx = m + (long)xi * bt * outc;
      for (int g0 = 0; g0 < groups; g0 += chunk) {
        const int g1 = imin(groups, g0 + chunk);
        for (int t = 0; t < nb; t += 4) {
          const int count = imin(4, nb - t);
          for (int r = 0; r < 4; r++) ind[r] = r < count ? vx + (long)(t + r) * depth : zeros;
          act_p[0] = u + xi * uplane + (long)g0 * depth * 8;
          conv_groups(ind, act_p, 1, depth, mx + (long)t * outc + g0 * 8, outc, 0, imin(outc - g0 * 8, (g1 - g0) * 8), 0, count, count == 4,
                      depth);
        }
      }
    }
    wino_output(m, bias, out, bt, oh, ow, outc, th, tw, relu, b0, nb);
  }
}

/*
 * The filter gradient of a 3x3 stride-1 convolution through the same transforms: with M = sum_c U .* V per
 * tile and Y = A' M A, dM = A dY A' and dU = sum over tiles of dM .* V, then dW = G' dU G. Three kernels, the
 * first two run per chunk of tiles (nativeConv.ts bounds the chunk's scratch):
 *   winograd_grad_transform: V of x's tiles (4x4 patches, zeros outside x) and dM of dy's (2x2, zeros outside
 *     dy), packed for the product: v[((xi * g4 + g) * nt + t) * 4 + lane] for channel 4g + lane of ci,
 *     m[((xi * g8 + g) * nt + t) * 8 + lane] for channel 8g + lane of co (zeros past the last channel).
 *     Parts split the chunk's tiles.
 *   winograd_grad_gemm: du[(((xi * g4 + gc) * g8 + go) * 4 + i) * 8 + j] += sum over the chunk's tiles, in tile
 *     order (first = 1: set instead of add). Parts split (xi, gc, go) units; each unit's sum runs in the same
 *     order whatever the parts, so results do not depend on the thread count.
 *   winograd_grad_filter: dw [3][3][ci][co] = G' dU G. Parts split ci.
 */
EXPORT(winograd_grad_transform)
void winograd_grad_transform(const float *x, const float *dy, float *v, float *m, const float *zeros, int n, int ih, int iw, int ci, int oh,
                             int ow, int co, int top, int left, int t0, int nt, int part, int parts) {
  (void)n;
  const int th = (oh + 1) / 2, tw = (ow + 1) / 2, per = th * tw;
  const int g4 = (ci + 3) / 4, g8 = (co + 7) / 8;
  const int a0 = part_lo(nt, part, parts), a1 = part_lo(nt, part + 1, parts);
  for (int t = a0; t < a1; t++) {
    const int u = t0 + t, b = u / per, q = u - b * per, ty = q / tw, tx = q - ty * tw;
    const float *row[4][4];
    wino_patch(x, zeros, row, b, ty, tx, ih, iw, ci, top, left);
    for (int g = 0; g < g4; g++) {
      const int c = 4 * g;
      f4 d[4][4], vx[16];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) d[i][j] = ld_upto(row[i][j] + c, ci - c);
      wino_bt_d_b(d, vx);
      for (int xi = 0; xi < 16; xi++) st(v + (((long)xi * g4 + g) * nt + t) * 4, vx[xi]);
    }
    /* dy's 2x2 tile: rows and columns past dy are zeros */
    const int y0 = 2 * ty, x0 = 2 * tx;
    const float *drow[2][2];
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++)
        drow[i][j] = y0 + i < oh && x0 + j < ow ? dy + (((long)b * oh + y0 + i) * ow + x0 + j) * co : zeros;
    for (int g = 0; g < g8; g++) {
      for (int h = 0; h < 2; h++) {
        const int c = 8 * g + 4 * h;
        f4 d[2][2];
        for (int i = 0; i < 2; i++)
          for (int j = 0; j < 2; j++) d[i][j] = c < co ? ld_upto(drow[i][j] + c, co - c) : wasm_f32x4_splat(0.f);
        /* A dY A' with A = [1 0; 1 1; 1 -1; 0 -1]: along columns, then rows */
        f4 r[2][4];
        for (int i = 0; i < 2; i++) {
          r[i][0] = d[i][0];
          r[i][1] = wasm_f32x4_add(d[i][0], d[i][1]);
          r[i][2] = wasm_f32x4_sub(d[i][0], d[i][1]);
          r[i][3] = wasm_f32x4_neg(d[i][1]);
        }
        for (int j = 0; j < 4; j++) {
          float *dst = m + ((long)(0 * 4 + j) * g8 + g) * nt * 8 + (long)t * 8 + 4 * h;
          const long step = 4L * g8 * nt * 8; /* from xi = 4i + j to 4(i+1) + j */
          st(dst, r[0][j]);
          st(dst + step, wasm_f32x4_add(r[0][j], r[1][j]));
          st(dst + 2 * step, wasm_f32x4_sub(r[0][j], r[1][j]));
          st(dst + 3 * step, wasm_f32x4_neg(r[1][j]));
        }
      }
    }
  }
}

EXPORT(winograd_grad_gemm)
void winograd_grad_gemm(const float *v, const float *m, float *du, int ci, int co, int nt, int first, int part, int parts) {
  const int g4 = (ci + 3) / 4, g8 = (co + 7) / 8;
  const int units = 16 * g4 * g8;
  const int u0 = part_lo(units, part, parts), u1 = part_lo(units, part + 1, parts);
  for (int u = u0; u < u1; u++) {
    const int xi = u / (g4 * g8), rest = u - xi * g4 * g8, gc = rest / g8, go = rest - gc * g8;
    float *acc_p = du + (long)u * 32;
    f4 a00, a01, a10, a11, a20, a21, a30, a31;
    if (first) {
      a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = wasm_f32x4_splat(0.f);
    } else {
      a00 = ld(acc_p); a01 = ld(acc_p + 4); a10 = ld(acc_p + 8); a11 = ld(acc_p + 12);
      a20 = ld(acc_p + 16); a21 = ld(acc_p + 20); a30 = ld(acc_p + 24); a31 = ld(acc_p + 28);
    }
    const float *vp = v + ((long)xi * g4 + gc) * nt * 4;
    const float *mp = m + ((long)xi * g8 + go) * nt * 8;
    for (int t = 0; t < nt; t++, vp += 4, mp += 8) {
      const f4 b0 = ld(mp), b1 = ld(mp + 4);
      f4 s = splat(vp);
      a00 = madd(a00, s, b0);
      a01 = madd(a01, s, b1);
      s = splat(vp + 1);
      a10 = madd(a10, s, b0);
      a11 = madd(a11, s, b1);
      s = splat(vp + 2);
      a20 = madd(a20, s, b0);
      a21 = madd(a21, s, b1);
      s = splat(vp + 3);
      a30 = madd(a30, s, b0);
      a31 = madd(a31, s, b1);
    }
    st(acc_p, a00); st(acc_p + 4, a01); st(acc_p + 8, a10); st(acc_p + 12, a11);
    st(acc_p + 16, a20); st(acc_p + 20, a21); st(acc_p + 24, a30); st(acc_p + 28, a31);
  }
}

EXPORT(winograd_grad_filter)
void winograd_grad_filter(const float *du, float *dw, int ci, int co, int part, int parts) {
  const int g4 = (ci + 3) / 4, g8 = (co + 7) / 8;
  const int c0 = part_lo(ci, part, parts), c1 = part_lo(ci, part + 1, parts);
  for (int c = c0; c < c1; c++) {
    const int gc = c / 4, i4 = c - gc * 4;
    for (int o = 0; o < co; o++) {
      const int go = o / 8, j8 = o - go * 8;
      float uu[4][4], r[4][3];
      for (int xi = 0; xi < 16; xi++) uu[xi / 4][xi % 4] = du[((((long)xi * g4 + gc) * g8 + go) * 4 + i4) * 8 + j8];
      /* G' dU G with G' = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]: along columns, then rows */
      for (int i = 0; i < 4; i++) {
        r[i][0] = uu[i][0] + 0.5f * (uu[i][1] + uu[i][2]);
        r[i][1] = 0.5f * (uu[i][1] - uu[i][2]);
        r[i][2] = 0.5f * (uu[i][1] + uu[i][2]) + uu[i][3];
      }
      for (int x = 0; x < 3; x++) {
        dw[(0 * 3 + x) * ci * co + c * co + o] = r[0][x] + 0.5f * (r[1][x] + r[2][x]);
        dw[(1 * 3 + x) * ci * co + c * co + o] = 0.5f * (r[1][x] - r[2][x]);
        dw[(2 * 3 + x) * ci * co + c * co + o] = 0.5f * (r[1][x] + r[2][x]) + r[3][x];
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Max-pool gradient: each window's upstream value goes to the first position (row-major) holding the  */
/* window's maximum, whatever its sign (tfjs-backend-cpu and TensorFlow).                           */
/* ------------------------------------------------------------------------------------------------ */

/* Parts split the channels (groups of 4): overlapping windows then never write the same entry from two
   threads. dx is overwritten. */
EXPORT(max_pool_grad)
void max_pool_grad(const float *x, const float *dy, float *dx, int n, int ih, int iw, int c, int oh, int ow, int kh, int kw,
                   int sh, int sw, int top, int left, int part, int parts) {
  const int groups = (c + 3) / 4;
  const int g0 = part_lo(groups, part, parts), g1 = part_lo(groups, part + 1, parts);
  if (g1 <= g0) return;
  const int c0 = g0 * 4, c1 = imin(c, g1 * 4);
  const long pixels = (long)n * ih * iw;
  for (long p = 0; p < pixels; p++)
    for (int k = c0; k < c1; k++) dx[p * c + k] = 0.f;
  for (int b = 0; b < n; b++) {
    for (int oy = 0; oy < oh; oy++) {
      const int y0 = oy * sh - top;
      const int ky0 = imax(0, -y0), ky1 = imin(kh, ih - y0);
      if (ky1 <= ky0) continue;
      for (int ox = 0; ox < ow; ox++) {
        const int x0 = ox * sw - left;
        const int kx0 = imax(0, -x0), kx1 = imin(kw, iw - x0);
        if (kx1 <= kx0) continue;
        const float *g = dy + (((long)b * oh + oy) * ow + ox) * c;
        const int first = ((b * ih + y0 + ky0) * iw + x0 + kx0) * c;
        int k = c0;
        for (; k + 4 <= c1; k += 4) {
          f4 best = ld(x + first + k);
          v128_t at = wasm_i32x4_splat(first);
          for (int ky = ky0; ky < ky1; ky++) {
            for (int kx = kx0; kx < kx1; kx++) {
              const int off = ((b * ih + y0 + ky) * iw + x0 + kx) * c;
              const f4 v = ld(x + off + k);
              const v128_t gt = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, gt);
              at = wasm_v128_bitselect(wasm_i32x4_splat(off), at, gt);
            }
          }
          dx[wasm_i32x4_extract_lane(at, 0) + k] += g[k];
          dx[wasm_i32x4_extract_lane(at, 1) + k + 1] += g[k + 1];
          dx[wasm_i32x4_extract_lane(at, 2) + k + 2] += g[k + 2];
          dx[wasm_i32x4_extract_lane(at, 3) + k + 3] += g[k + 3];
        }
        for (; k < c1; k++) {
          float best = x[first + k];
          int at = first;
          for (int ky = ky0; ky < ky1; ky++) {
            for (int kx = kx0; kx < kx1; kx++) {
              const int off = ((b * ih + y0 + ky) * iw + x0 + kx) * c;
              if (x[off + k] > best) {
                best = x[off + k];
                at = off;
              }
            }
          }
          dx[at + k] += g[k];
        }
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Per-channel sums: out[j] = scale * sum over r of x[r*c + j] (a Sum or Mean over every axis but the  */
/* last, as batch norm's statistics and gradients take). Rows are summed in blocks of 256 whose partial */
/* sums are then added, which keeps float32 rounding near that of a pairwise sum.                    */
/* ------------------------------------------------------------------------------------------------ */

EXPORT(channel_sums)
void channel_sums(const float *x, float *out, int rows, int c, float scale, int part, int parts) {
  const int groups = (c + 3) / 4;
  const int g0 = part_lo(groups, part, parts), g1 = part_lo(groups, part + 1, parts);
  int k = g0 * 4;
  const int c1 = imin(c, g1 * 4);
  const f4 vs = wasm_f32x4_splat(scale);
  for (; k + 16 <= c1; k += 16) {
    f4 t0 = wasm_f32x4_splat(0.f), t1 = t0, t2 = t0, t3 = t0;
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      f4 a0 = wasm_f32x4_splat(0.f), a1 = a0, a2 = a0, a3 = a0;
      const float *p = x + (long)r0 * c + k;
      for (int r = r0; r < r1; r++, p += c) {
        a0 = wasm_f32x4_add(a0, ld(p));
        a1 = wasm_f32x4_add(a1, ld(p + 4));
        a2 = wasm_f32x4_add(a2, ld(p + 8));
        a3 = wasm_f32x4_add(a3, ld(p + 12));
      }
      t0 = wasm_f32x4_add(t0, a0);
      t1 = wasm_f32x4_add(t1, a1);
      t2 = wasm_f32x4_add(t2, a2);
      t3 = wasm_f32x4_add(t3, a3);
    }
    st(out + k, wasm_f32x4_mul(t0, vs));
    st(out + k + 4, wasm_f32x4_mul(t1, vs));
    st(out + k + 8, wasm_f32x4_mul(t2, vs));
    st(out + k + 12, wasm_f32x4_mul(t3, vs));
  }
  for (; k + 4 <= c1; k += 4) {
    f4 t = wasm_f32x4_splat(0.f);
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      f4 a = wasm_f32x4_splat(0.f);
      const float *p = x + (long)r0 * c + k;
      for (int r = r0; r < r1; r++, p += c) a = wasm_f32x4_add(a, ld(p));
      t = wasm_f32x4_add(t, a);
    }
    st(out + k, wasm_f32x4_mul(t, vs));
  }
  for (; k < c1; k++) {
    float t = 0.f;
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      float a = 0.f;
      for (int r = r0; r < r1; r++) a += x[(long)r * c + k];
      t += a;
    }
    out[k] = t * scale;
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Batch norm over every axis but the last (NHWC). params = [mean(c), factor(c), offset(c)] with       */
/* factor = scale / sqrt(var + eps), computed by the caller.                                        */
/* ------------------------------------------------------------------------------------------------ */

/* y = (x - mean) * factor + offset, rows split across parts. */
EXPORT(batch_norm_apply)
void batch_norm_apply(const float *x, float *y, const float *params, int rows, int c, int part, int parts) {
  const int r0 = part_lo(rows, part, parts), r1 = part_lo(rows, part + 1, parts);
  const float *mean = params, *factor = params + c, *offset = params + 2 * c;
  for (int r = r0; r < r1; r++) {
    const float *xp = x + (long)r * c;
    float *yp = y + (long)r * c;
    int k = 0;
    for (; k + 4 <= c; k += 4) st(yp + k, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_sub(ld(xp + k), ld(mean + k)), ld(factor + k)), ld(offset + k)));
    for (; k < c; k++) yp[k] = (xp[k] - mean[k]) * factor[k] + offset[k];
  }
}

/* Channels whose running sums one row-major sweep keeps (on the stack: 1 KB per array). */
#define SUM_CHUNK 256

/* Per-channel mean and (biased) variance, two passes over blocks of 256 rows; channels split across parts.
   Each pass runs row by row over a chunk of SUM_CHUNK channels (reading each row's chunk in order, with the
   running sums on the stack) instead of channel group by channel group down the rows: the same sums in the
   same order, read as a stream (one 16-byte piece per row and group had cost about twice the time). */
EXPORT(batch_norm_stats)
void batch_norm_stats(const float *x, float *mean, float *var, int rows, int c, int part, int parts) {
  const int groups = (c + 3) / 4;
  const int g0 = part_lo(groups, part, parts), g1 = part_lo(groups, part + 1, parts);
  const int c1 = imin(c, g1 * 4);
  const float inv = 1.f / (float)rows;
  const int cv = g0 * 4 + (c1 - g0 * 4) / 4 * 4;
  f4 t[SUM_CHUNK / 4], a[SUM_CHUNK / 4];
  for (int kc = g0 * 4; kc < cv; kc += SUM_CHUNK) {
    const int nv = (imin(cv, kc + SUM_CHUNK) - kc) / 4;
    for (int j = 0; j < nv; j++) t[j] = wasm_f32x4_splat(0.f);
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      for (int j = 0; j < nv; j++) a[j] = wasm_f32x4_splat(0.f);
      for (int r = r0; r < r1; r++) {
        const float *p = x + (long)r * c + kc;
        for (int j = 0; j < nv; j++) a[j] = wasm_f32x4_add(a[j], ld(p + 4 * j));
      }
      for (int j = 0; j < nv; j++) t[j] = wasm_f32x4_add(t[j], a[j]);
    }
    for (int j = 0; j < nv; j++) st(mean + kc + 4 * j, wasm_f32x4_mul(t[j], wasm_f32x4_splat(inv)));
    for (int j = 0; j < nv; j++) t[j] = wasm_f32x4_splat(0.f);
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      for (int j = 0; j < nv; j++) a[j] = wasm_f32x4_splat(0.f);
      for (int r = r0; r < r1; r++) {
        const float *p = x + (long)r * c + kc;
        for (int j = 0; j < nv; j++) {
          const f4 d = wasm_f32x4_sub(ld(p + 4 * j), ld(mean + kc + 4 * j));
          a[j] = madd(a[j], d, d);
        }
      }
      for (int j = 0; j < nv; j++) t[j] = wasm_f32x4_add(t[j], a[j]);
    }
    for (int j = 0; j < nv; j++) st(var + kc + 4 * j, wasm_f32x4_mul(t[j], wasm_f32x4_splat(inv)));
  }
  for (int k = cv; k < c1; k++) {
    float t = 0.f;
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      float a = 0.f;
      for (int r = r0; r < r1; r++) a += x[(long)r * c + k];
      t += a;
    }
    const float m = t * inv;
    float v = 0.f;
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      float a = 0.f;
      for (int r = r0; r < r1; r++) {
        const float d = x[(long)r * c + k] - m;
        a += d * d;
      }
      v += a;
    }
    mean[k] = m;
    var[k] = v * inv;
  }
}

/*
 * Sums for the training-mode batch-norm gradient: sums = [sum dy (c), sum dy * (x - mean) (c)]; channels
 * split across parts, swept row by row over chunks of SUM_CHUNK channels as in batch_norm_stats.
 */
EXPORT(batch_norm_grad_sums)
void batch_norm_grad_sums(const float *x, const float *dy, const float *mean, float *sums, int rows, int c, int part, int parts) {
  const int groups = (c + 3) / 4;
  const int g0 = part_lo(groups, part, parts), g1 = part_lo(groups, part + 1, parts);
  const int c1 = imin(c, g1 * 4);
  const int cv = g0 * 4 + (c1 - g0 * 4) / 4 * 4;
  f4 t[SUM_CHUNK / 4], u[SUM_CHUNK / 4], a[SUM_CHUNK / 4], b[SUM_CHUNK / 4];
  for (int kc = g0 * 4; kc < cv; kc += SUM_CHUNK) {
    const int nv = (imin(cv, kc + SUM_CHUNK) - kc) / 4;
    for (int j = 0; j < nv; j++) t[j] = u[j] = wasm_f32x4_splat(0.f);
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      for (int j = 0; j < nv; j++) a[j] = b[j] = wasm_f32x4_splat(0.f);
      for (int r = r0; r < r1; r++) {
        const float *xp = x + (long)r * c + kc, *gp = dy + (long)r * c + kc;
        for (int j = 0; j < nv; j++) {
          const f4 g = ld(gp + 4 * j);
          a[j] = wasm_f32x4_add(a[j], g);
          b[j] = madd(b[j], g, wasm_f32x4_sub(ld(xp + 4 * j), ld(mean + kc + 4 * j)));
        }
      }
      for (int j = 0; j < nv; j++) {
        t[j] = wasm_f32x4_add(t[j], a[j]);
        u[j] = wasm_f32x4_add(u[j], b[j]);
      }
    }
    for (int j = 0; j < nv; j++) {
      st(sums + kc + 4 * j, t[j]);
      st(sums + c + kc + 4 * j, u[j]);
    }
  }
  for (int k = cv; k < c1; k++) {
    float t = 0.f, u = 0.f;
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      float a = 0.f, b = 0.f;
      for (int r = r0; r < r1; r++) {
        const float g = dy[(long)r * c + k];
        a += g;
        b += g * (x[(long)r * c + k] - mean[k]);
      }
      t += a;
      u += b;
    }
    sums[k] = t;
    sums[c + k] = u;
  }
}

/*
 * dx = factor * (dy - a - (x - mean) * b) with per-channel coefficients params = [mean(c), factor(c), a(c),
 * b(c)] (training-mode batch norm: a = mean of dy, b = mean of dy*(x - mean) / (var + eps)); rows split.
 */
EXPORT(batch_norm_grad_apply)
void batch_norm_grad_apply(const float *x, const float *dy, float *dx, const float *params, int rows, int c, int part, int parts) {
  const int r0 = part_lo(rows, part, parts), r1 = part_lo(rows, part + 1, parts);
  const float *mean = params, *factor = params + c, *a = params + 2 * c, *b = params + 3 * c;
  for (int r = r0; r < r1; r++) {
    const float *xp = x + (long)r * c, *gp = dy + (long)r * c;
    float *dp = dx + (long)r * c;
    int k = 0;
    for (; k + 4 <= c; k += 4) {
      const f4 centred = wasm_f32x4_sub(ld(xp + k), ld(mean + k));
      const f4 inner = wasm_f32x4_sub(wasm_f32x4_sub(ld(gp + k), ld(a + k)), wasm_f32x4_mul(centred, ld(b + k)));
      st(dp + k, wasm_f32x4_mul(ld(factor + k), inner));
    }
    for (; k < c; k++) dp[k] = factor[k] * ((gp[k] - a[k]) - (xp[k] - mean[k]) * b[k]);
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Strided row copies (Concat and SplitV along any axis: outer rows of `width` floats).             */
/* ------------------------------------------------------------------------------------------------ */

EXPORT(copy_rows)
void copy_rows(const float *src, float *dst, int rows, int width, int src_stride, int dst_stride, int part, int parts) {
  const int r0 = part_lo(rows, part, parts), r1 = part_lo(rows, part + 1, parts);
  for (int r = r0; r < r1; r++) {
    const float *s = src + (long)r * src_stride;
    float *d = dst + (long)r * dst_stride;
    int k = 0;
    for (; k + 16 <= width; k += 16) {
      const f4 a = ld(s + k), b = ld(s + k + 4), e = ld(s + k + 8), f = ld(s + k + 12);
      st(d + k, a);
      st(d + k + 4, b);
      st(d + k + 8, e);
      st(d + k + 12, f);
    }
    for (; k + 4 <= width; k += 4) st(d + k, ld(s + k));
    for (; k < width; k++) d[k] = s[k];
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* ReLU gradient from the ReLU's output: dx = dy * step(y), step = 1 (y > 0), NaN (y NaN), 0 otherwise */
/* (tfjs-core's dy * cast(step(y)), with the same IEEE products).                                    */
/* ------------------------------------------------------------------------------------------------ */

/*
 * acc[part] += the sum of x - x over this part of n floats: 0 while every value is finite, NaN once one is
 * NaN or infinite (the training loops' one flag for loss, gradients and weights: nativeOps.ts).
 */
EXPORT(nonfinite_flag)
void nonfinite_flag(const float *x, int n, float *acc, int part, int parts) {
  const int q = (n + 3) / 4;
  const int i0 = part_lo(q, part, parts) * 4, i1 = imin(n, part_lo(q, part + 1, parts) * 4);
  f4 a = wasm_f32x4_splat(0.f), b = a;
  int i = i0;
  for (; i + 8 <= i1; i += 8) {
    const f4 u = ld(x + i), v = ld(x + i + 4);
    a = wasm_f32x4_add(a, wasm_f32x4_sub(u, u));
    b = wasm_f32x4_add(b, wasm_f32x4_sub(v, v));
  }
  for (; i + 4 <= i1; i += 4) {
    const f4 u = ld(x + i);
    a = wasm_f32x4_add(a, wasm_f32x4_sub(u, u));
  }
  a = wasm_f32x4_add(a, b);
  float s = wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1) + wasm_f32x4_extract_lane(a, 2) + wasm_f32x4_extract_lane(a, 3);
  for (; i < i1; i++) s += x[i] - x[i];
  acc[part] += s;
}

EXPORT(relu_grad)
void relu_grad(const float *dy, const float *y, float *dx, int n, int part, int parts) {
  const int q = (n + 3) / 4;
  const int i0 = part_lo(q, part, parts) * 4, i1 = imin(n, part_lo(q, part + 1, parts) * 4);
  const f4 one = wasm_f32x4_splat(1.f), zero = wasm_f32x4_splat(0.f);
  int i = i0;
  for (; i + 4 <= i1; i += 4) {
    const f4 v = ld(y + i);
    const f4 step = wasm_v128_bitselect(one, wasm_v128_bitselect(v, zero, wasm_f32x4_ne(v, v)), wasm_f32x4_gt(v, zero));
    st(dx + i, wasm_f32x4_mul(ld(dy + i), step));
  }
  for (; i < i1; i++) {
    const float v = y[i];
    const float step = v > 0.f ? 1.f : (v != v ? v : 0.f);
    dx[i] = dy[i] * step;
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Broadcast arithmetic: out = a op b where one operand (`full`) has every element of out and the other */
/* (`small`) repeats: per column (mode 0: small[i] for column i of every row, as a bias [C] against    */
/* [N, H, W, C]) or per row (mode 1: small[r] for every column of row r, as [N, 1, 1, 1] against       */
/* [N, H, W, C]). op: 0 add, 1 subtract, 2 multiply, 3 divide; swap: the small operand is a (a op b     */
/* with a the repeated one). Plain IEEE float32 operations, as the stock kernels (same bits).          */
/* Parts split the rows.                                                                             */
/* ------------------------------------------------------------------------------------------------ */

INLINE f4 bin4(f4 x, f4 y, int op) {
  switch (op) {
    case 0: return wasm_f32x4_add(x, y);
    case 1: return wasm_f32x4_sub(x, y);
    case 2: return wasm_f32x4_mul(x, y);
    default: return wasm_f32x4_div(x, y);
  }
}

INLINE float bin1(float x, float y, int op) {
  switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    default: return x / y;
  }
}

/* One row: out[i] = f[i] op s[i] (s_step 1) or f[i] op s[0] (s_step 0), operands swapped when swap. */
INLINE void bin_row(const float *f, const float *s, float *o, int inner, int s_step, int op, int swap) {
  int i = 0;
  if (s_step) {
    if (swap) for (; i + 4 <= inner; i += 4) st(o + i, bin4(ld(s + i), ld(f + i), op));
    else for (; i + 4 <= inner; i += 4) st(o + i, bin4(ld(f + i), ld(s + i), op));
    for (; i < inner; i++) o[i] = swap ? bin1(s[i], f[i], op) : bin1(f[i], s[i], op);
  } else {
    const f4 v = wasm_f32x4_splat(s[0]);
    if (swap) for (; i + 4 <= inner; i += 4) st(o + i, bin4(v, ld(f + i), op));
    else for (; i + 4 <= inner; i += 4) st(o + i, bin4(ld(f + i), v, op));
    for (; i < inner; i++) o[i] = swap ? bin1(s[0], f[i], op) : bin1(f[i], s[0], op);
  }
}

EXPORT(binary_broadcast)
void binary_broadcast(const float *full, const float *small, float *out, int rows, int inner, int mode, int op, int swap, int part,
                      int parts) {
  const int r0 = part_lo(rows, part, parts), r1 = part_lo(rows, part + 1, parts);
  for (int r = r0; r < r1; r++) {
    const long off = (long)r * inner;
    /* The op is a constant per call: each case is its own loop after inlining. */
    switch (op) {
      case 0: bin_row(full + off, mode ? small + r : small, out + off, inner, !mode, 0, swap); break;
      case 1: bin_row(full + off, mode ? small + r : small, out + off, inner, !mode, 1, swap); break;
      case 2: bin_row(full + off, mode ? small + r : small, out + off, inner, !mode, 2, swap); break;
      default: bin_row(full + off, mode ? small + r : small, out + off, inner, !mode, 3, swap); break;
    }
  }
}

/* ReLU: y = x where x > 0 or x is NaN, +0 otherwise (-0 included), as the stock kernel. Parts split the elements. */
EXPORT(relu)
void relu(const float *x, float *y, int n, int part, int parts) {
  const int q = (n + 3) / 4;
  const int i0 = part_lo(q, part, parts) * 4, i1 = imin(n, part_lo(q, part + 1, parts) * 4);
  const f4 zero = wasm_f32x4_splat(0.f);
  int i = i0;
  for (; i + 4 <= i1; i += 4) {
    const f4 v = ld(x + i);
    st(y + i, wasm_v128_bitselect(v, zero, wasm_v128_or(wasm_f32x4_gt(v, zero), wasm_f32x4_ne(v, v))));
  }
  for (; i < i1; i++) y[i] = (x[i] > 0.f || x[i] != x[i]) ? x[i] : 0.f;
}

/* ------------------------------------------------------------------------------------------------ */
/* Average-pool gradient (tfjs's AvgPoolGrad: every window's dy times `scale` = 1 / (kh*kw), padding  */
/* counted, spread over its positions inside x), gathered per dx position so that parts (rows of dx) */
/* write disjoint outputs: dx[b][iy][ix][k] = scale * sum over the windows (oy, ox) that hold (iy, ix), */
/* oy then ox ascending, of dy[b][oy][ox][k]. dx is overwritten.                                     */
/* ------------------------------------------------------------------------------------------------ */

EXPORT(avg_pool_grad)
void avg_pool_grad(const float *dy, float *dx, int n, int ih, int iw, int c, int oh, int ow, int kh, int kw, int sh, int sw, int top,
                   int left, float scale, int part, int parts) {
  const int rows = n * ih;
  const int r0 = part_lo(rows, part, parts), r1 = part_lo(rows, part + 1, parts);
  const f4 vs = wasm_f32x4_splat(scale);
  for (int r = r0; r < r1; r++) {
    const int b = r / ih, iy = r - b * ih;
    /* windows oy with oy*sh - top <= iy < oy*sh - top + kh */
    const int oy0 = imax(0, ceildiv(iy + top - kh + 1, sh)), oy1 = imin(oh, floordiv(iy + top, sh) + 1);
    float *drow = dx + (long)r * iw * c;
    for (int ix = 0; ix < iw; ix++) {
      const int ox0 = imax(0, ceildiv(ix + left - kw + 1, sw)), ox1 = imin(ow, floordiv(ix + left, sw) + 1);
      float *d = drow + (long)ix * c;
      int k = 0;
      for (; k + 8 <= c; k += 8) {
        f4 s0 = wasm_f32x4_splat(0.f), s1 = s0;
        for (int oy = oy0; oy < oy1; oy++) {
          const float *g = dy + (((long)b * oh + oy) * ow) * c + k;
          for (int ox = ox0; ox < ox1; ox++) {
            s0 = wasm_f32x4_add(s0, ld(g + (long)ox * c));
            s1 = wasm_f32x4_add(s1, ld(g + (long)ox * c + 4));
          }
        }
        st(d + k, wasm_f32x4_mul(s0, vs));
        st(d + k + 4, wasm_f32x4_mul(s1, vs));
      }
      for (; k + 4 <= c; k += 4) {
        f4 s0 = wasm_f32x4_splat(0.f);
        for (int oy = oy0; oy < oy1; oy++) {
          const float *g = dy + (((long)b * oh + oy) * ow) * c + k;
          for (int ox = ox0; ox < ox1; ox++) s0 = wasm_f32x4_add(s0, ld(g + (long)ox * c));
        }
        st(d + k, wasm_f32x4_mul(s0, vs));
      }
      for (; k < c; k++) {
        float s = 0.f;
        for (int oy = oy0; oy < oy1; oy++)
          for (int ox = ox0; ox < ox1; ox++) s += dy[(((long)b * oh + oy) * ow + ox) * c + k];
        d[k] = s * scale;
      }
    }
  }
}

/* ================================================================================================ */
/* FFT for defocus_blur (src/corruptions/fftNative.ts): the passes of src/corruptions/fft.ts's        */
/* correlate2dFft on f64x2 vectors, two adjacent columns per vector (each row-wise butterfly combines   */
/* whole rows, so the lanes are independent butterflies). Every value goes through exactly the         */
/* JavaScript code's operations in its order (IEEE f64 add, sub, mul; no contraction into FMA, which    */
/* wasm has only as relaxed SIMD's), with the twiddle tables computed in JavaScript, so the results are */
/* bit-identical to fft.ts. Grids are row-major Float64 planes: re, im of one complex grid; cos, sin    */
/* the plan of the transform length (cos[k] = cos(2πk/N), sin[k] = −sin(2πk/N), k < N/2). Single-      */
/* threaded: these take no part arguments and are called directly, not through the pool.              */
/* ================================================================================================ */

#pragma clang fp contract(off)


typedef v128_t d2;
#define DADD wasm_f64x2_add
#define DSUB wasm_f64x2_sub
#define DMUL wasm_f64x2_mul

/* Two lanes (full) or lane 0 only (the last column of an odd length). */
INLINE d2 dld(const double *p, const int full) { return full ? wasm_v128_load(p) : wasm_v128_load64_zero(p); }
INLINE void dst(double *p, d2 v, const int full) {
  if (full) wasm_v128_store(p, v);
  else wasm_v128_store64_lane(p, v, 0);
}
/* (ar + i·ai)(wr + i·wi) as fft.ts writes it: ar·wr − ai·wi, ar·wi + ai·wr. */
INLINE void dcmul(d2 ar, d2 ai, d2 wr, d2 wi, d2 *outr, d2 *outi) {
  *outr = DSUB(DMUL(ar, wr), DMUL(ai, wi));
  *outi = DADD(DMUL(ar, wi), DMUL(ai, wr));
}

/* The four rows of a radix-4 group: row pointers of re and im at column j. */
typedef struct { double *r0, *r1, *r2, *r3, *i0, *i1, *i2, *i3; } Rows4;

INLINE Rows4 rows4(double *re, double *im, int o0, int q) {
  Rows4 g = { re + o0, re + o0 + q, re + o0 + 2 * q, re + o0 + 3 * q, im + o0, im + o0 + q, im + o0 + 2 * q, im + o0 + 3 * q };
  return g;
}

/* Declares x0r, x0i … x3r, x3i: column j (two lanes) of the four rows of g. */
#define LOAD_ROWS4(g, j, full)                                                                            \
  d2 x0r = dld((g)->r0 + (j), full), x0i = dld((g)->i0 + (j), full);                                      \
  d2 x1r = dld((g)->r1 + (j), full), x1i = dld((g)->i1 + (j), full);                                      \
  d2 x2r = dld((g)->r2 + (j), full), x2i = dld((g)->i2 + (j), full);                                      \
  d2 x3r = dld((g)->r3 + (j), full), x3i = dld((g)->i3 + (j), full)

/* difRows' k = 0 butterfly at column j (twiddles 1, −i, 1). */
INLINE void dif_k0(const Rows4 *g, int j, const int full) {
  LOAD_ROWS4(g, j, full);
  d2 a0r = DADD(x0r, x2r), a0i = DADD(x0i, x2i);
  d2 a2r = DSUB(x0r, x2r), a2i = DSUB(x0i, x2i);
  d2 a1r = DADD(x1r, x3r), a1i = DADD(x1i, x3i);
  d2 a3r = DSUB(x1i, x3i), a3i = DSUB(x3r, x1r);
  dst(g->r0 + j, DADD(a0r, a1r), full);
  dst(g->i0 + j, DADD(a0i, a1i), full);
  dst(g->r1 + j, DSUB(a0r, a1r), full);
  dst(g->i1 + j, DSUB(a0i, a1i), full);
  dst(g->r2 + j, DADD(a2r, a3r), full);
  dst(g->i2 + j, DADD(a2i, a3i), full);
  dst(g->r3 + j, DSUB(a2r, a3r), full);
  dst(g->i3 + j, DSUB(a2i, a3i), full);
}

/* difRows' butterfly for k > 0 at column j. */
INLINE void dif_k(const Rows4 *g, int j, const int full, d2 w1r, d2 w1i, d2 w2r, d2 w2i, d2 w3r, d2 w3i) {
  LOAD_ROWS4(g, j, full);
  d2 a0r = DADD(x0r, x2r), a0i = DADD(x0i, x2i);
  d2 d2r = DSUB(x0r, x2r), d2i = DSUB(x0i, x2i);
  d2 a2r, a2i, a3r, a3i, y1r, y1i, y3r, y3i;
  dcmul(d2r, d2i, w1r, w1i, &a2r, &a2i);
  d2 a1r = DADD(x1r, x3r), a1i = DADD(x1i, x3i);
  d2 d3r = DSUB(x1r, x3r), d3i = DSUB(x1i, x3i);
  dcmul(d3r, d3i, w2r, w2i, &a3r, &a3i);
  dst(g->r0 + j, DADD(a0r, a1r), full);
  dst(g->i0 + j, DADD(a0i, a1i), full);
  dcmul(DSUB(a0r, a1r), DSUB(a0i, a1i), w3r, w3i, &y1r, &y1i);
  dst(g->r1 + j, y1r, full);
  dst(g->i1 + j, y1i, full);
  dst(g->r2 + j, DADD(a2r, a3r), full);
  dst(g->i2 + j, DADD(a2i, a3i), full);
  dcmul(DSUB(a2r, a3r), DSUB(a2i, a3i), w3r, w3i, &y3r, &y3i);
  dst(g->r3 + j, y3r, full);
  dst(g->i3 + j, y3i, full);
}

/* ditRows' k = 0 butterfly (twiddles 1, +i, 1); results in z (r0 i0 r1 i1 r2 i2 r3 i3 order). */
INLINE void dit_k0_values(const Rows4 *g, int j, const int full, d2 *z) {
  LOAD_ROWS4(g, j, full);
  d2 a0r = DADD(x0r, x1r), a0i = DADD(x0i, x1i);
  d2 a1r = DSUB(x0r, x1r), a1i = DSUB(x0i, x1i);
  d2 a2r = DADD(x2r, x3r), a2i = DADD(x2i, x3i);
  d2 u3r = DSUB(x3i, x2i), u3i = DSUB(x2r, x3r);
  z[0] = DADD(a0r, a2r); z[1] = DADD(a0i, a2i);
  z[4] = DSUB(a0r, a2r); z[5] = DSUB(a0i, a2i);
  z[2] = DADD(a1r, u3r); z[3] = DADD(a1i, u3i);
  z[6] = DSUB(a1r, u3r); z[7] = DSUB(a1i, u3i);
}

/* ditRows' butterfly for k > 0 (twiddles v1, v2, v3 = conjugates of the plan's); results in z. */
INLINE void dit_k_values(const Rows4 *g, int j, const int full, d2 v1r, d2 v1i, d2 v2r, d2 v2i, d2 v3r, d2 v3i, d2 *z) {
  LOAD_ROWS4(g, j, full);
  d2 t1r, t1i, t3r, t3i, u2r, u2i, u3r, u3i;
  dcmul(x1r, x1i, v3r, v3i, &t1r, &t1i);
  d2 a0r = DADD(x0r, t1r), a0i = DADD(x0i, t1i);
  d2 a1r = DSUB(x0r, t1r), a1i = DSUB(x0i, t1i);
  dcmul(x3r, x3i, v3r, v3i, &t3r, &t3i);
  d2 a2r = DADD(x2r, t3r), a2i = DADD(x2i, t3i);
  d2 a3r = DSUB(x2r, t3r), a3i = DSUB(x2i, t3i);
  dcmul(a2r, a2i, v1r, v1i, &u2r, &u2i);
  dcmul(a3r, a3i, v2r, v2i, &u3r, &u3i);
  z[0] = DADD(a0r, u2r); z[1] = DADD(a0i, u2i);
  z[4] = DSUB(a0r, u2r); z[5] = DSUB(a0i, u2i);
  z[2] = DADD(a1r, u3r); z[3] = DADD(a1i, u3i);
  z[6] = DSUB(a1r, u3r); z[7] = DSUB(a1i, u3i);
}

INLINE void store4(const Rows4 *g, int j, const int full, const d2 *z) {
  dst(g->r0 + j, z[0], full); dst(g->i0 + j, z[1], full);
  dst(g->r1 + j, z[2], full); dst(g->i1 + j, z[3], full);
  dst(g->r2 + j, z[4], full); dst(g->i2 + j, z[5], full);
  dst(g->r3 + j, z[6], full); dst(g->i3 + j, z[7], full);
}

INLINE int log2i(int n) {
  int b = 0;
  while ((1 << b) < n) b++;
  return b;
}

/* radix2Rows: rows (2m, 2m + 1) become their sum and difference, on `length` columns. */
static void fft_radix2(double *re, double *im, int size, int length, int stride) {
  for (int start = 0; start < size; start += 2) {
    double *ar = re + start * stride, *ai = im + start * stride, *br = ar + stride, *bi = ai + stride;
    int j = 0;
    for (; j + 2 <= length; j += 2) {
      d2 xr = dld(ar + j, 1), xi = dld(ai + j, 1), yr = dld(br + j, 1), yi = dld(bi + j, 1);
      dst(ar + j, DADD(xr, yr), 1); dst(ai + j, DADD(xi, yi), 1);
      dst(br + j, DSUB(xr, yr), 1); dst(bi + j, DSUB(xi, yi), 1);
    }
    if (j < length) {
      d2 xr = dld(ar + j, 0), xi = dld(ai + j, 0), yr = dld(br + j, 0), yi = dld(bi + j, 0);
      dst(ar + j, DADD(xr, yr), 0); dst(ai + j, DADD(xi, yi), 0);
      dst(br + j, DSUB(xr, yr), 0); dst(bi + j, DSUB(xi, yi), 0);
    }
  }
}

/* The radix-4 passes of difRows from length `size` down to the last of length >= min_len; returns the length
   left (4 or 2 where passes remain, else below them). */
static int dif_passes(double *re, double *im, int size, int length, int stride, int min_len, const double *cos_t, const double *sin_t) {
  int len = size;
  for (; len >= min_len; len >>= 2) {
    const int q = len >> 2, step = size / len, qs = q * stride;
    for (int start = 0; start < size; start += len) {
      Rows4 g = rows4(re, im, start * stride, qs);
      int j = 0;
      for (; j + 2 <= length; j += 2) dif_k0(&g, j, 1);
      if (j < length) dif_k0(&g, j, 0);
      for (int k = 1; k < q; k++) {
        const d2 w1r = wasm_f64x2_splat(cos_t[k * step]), w1i = wasm_f64x2_splat(sin_t[k * step]);
        const d2 w2r = wasm_f64x2_splat(cos_t[(k + q) * step]), w2i = wasm_f64x2_splat(sin_t[(k + q) * step]);
        const d2 w3r = wasm_f64x2_splat(cos_t[2 * k * step]), w3i = wasm_f64x2_splat(sin_t[2 * k * step]);
        Rows4 h = rows4(re, im, (start + k) * stride, qs);
        j = 0;
        for (; j + 2 <= length; j += 2) dif_k(&h, j, 1, w1r, w1i, w2r, w2i, w3r, w3i);
        if (j < length) dif_k(&h, j, 0, w1r, w1i, w2r, w2i, w3r, w3i);
      }
    }
  }
  return len;
}

/* difRows(re, im, size, length, stride, minLen): forward DIF along the first axis, natural order in,
   bit-reversed out, two radix-2 stages per pass down to length minLen, then a radix-2 stage if one is left. */
EXPORT(fft_dif_rows)
void fft_dif_rows(double *re, double *im, int size, int length, int stride, int min_len, const double *cos_t, const double *sin_t) {
  if (dif_passes(re, im, size, length, stride, min_len, cos_t, sin_t) == 2) fft_radix2(re, im, size, length, stride);
}

/* Column pair (j, j + 1) of four consecutive rows r..r + 3 (values y0..y3, lanes j and j + 1) stored transposed:
   to[j·ts + r + m] = lane 0 of y_m, to[(j + 1)·ts + r + m] = lane 1 (lane 0 only where !full). */
INLINE void store_t4(double *to, int ts, int j, int r, d2 y0, d2 y1, d2 y2, d2 y3, const int full) {
  double *a = to + (long)j * ts + r;
  wasm_v128_store(a, wasm_i64x2_shuffle(y0, y1, 0, 2));
  wasm_v128_store(a + 2, wasm_i64x2_shuffle(y2, y3, 0, 2));
  if (full) {
    wasm_v128_store(a + ts, wasm_i64x2_shuffle(y0, y1, 1, 3));
    wasm_v128_store(a + ts + 2, wasm_i64x2_shuffle(y2, y3, 1, 3));
  }
}

INLINE void store_t2(double *to, int ts, int j, int r, d2 y0, d2 y1, const int full) {
  double *a = to + (long)j * ts + r;
  wasm_v128_store(a, wasm_i64x2_shuffle(y0, y1, 0, 2));
  if (full) wasm_v128_store(a + ts, wasm_i64x2_shuffle(y0, y1, 1, 3));
}

/* difRows' last pass at rows r..r + 3 (length 4: k = 0 only), written transposed into tre/tim. */
INLINE void dif_last4_t(const double *re, const double *im, int stride, int r, int j, double *tre, double *tim, int ts, const int full) {
  const double *r0 = re + (long)r * stride, *i0 = im + (long)r * stride;
  d2 x0r = dld(r0 + j, full), x0i = dld(i0 + j, full);
  d2 x1r = dld(r0 + stride + j, full), x1i = dld(i0 + stride + j, full);
  d2 x2r = dld(r0 + 2 * stride + j, full), x2i = dld(i0 + 2 * stride + j, full);
  d2 x3r = dld(r0 + 3 * stride + j, full), x3i = dld(i0 + 3 * stride + j, full);
  d2 a0r = DADD(x0r, x2r), a0i = DADD(x0i, x2i);
  d2 a2r = DSUB(x0r, x2r), a2i = DSUB(x0i, x2i);
  d2 a1r = DADD(x1r, x3r), a1i = DADD(x1i, x3i);
  d2 a3r = DSUB(x1i, x3i), a3i = DSUB(x3r, x1r);
  store_t4(tre, ts, j, r, DADD(a0r, a1r), DSUB(a0r, a1r), DADD(a2r, a3r), DSUB(a2r, a3r), full);
  store_t4(tim, ts, j, r, DADD(a0i, a1i), DSUB(a0i, a1i), DADD(a2i, a3i), DSUB(a2i, a3i), full);
}

/* The radix-2 stage at rows r, r + 1, written transposed. */
INLINE void dif_last2_t(const double *re, const double *im, int stride, int r, int j, double *tre, double *tim, int ts, const int full) {
  const double *r0 = re + (long)r * stride, *i0 = im + (long)r * stride;
  d2 ar = dld(r0 + j, full), ai = dld(i0 + j, full), br = dld(r0 + stride + j, full), bi = dld(i0 + stride + j, full);
  store_t2(tre, ts, j, r, DADD(ar, br), DSUB(ar, br), full);
  store_t2(tim, ts, j, r, DADD(ai, bi), DSUB(ai, bi), full);
}

/* fft_dif_rows(re, im, size, length, stride, 4) followed by the transpose of its size × length result into
   tre/tim (row stride ts: tre[j·ts + r] = re[r·stride + j]), the last pass writing there directly (re and im then
   hold the state before that pass). */
EXPORT(fft_dif_rows_t)
void fft_dif_rows_t(double *re, double *im, int size, int length, int stride, double *tre, double *tim, int ts, const double *cos_t, const double *sin_t) {
  const int len = dif_passes(re, im, size, length, stride, 8, cos_t, sin_t);
  const int tail = length & 1, even = length - tail;
  if (len == 4)
    for (int r = 0; r < size; r += 4)
      for (int j = 0; j < even; j += 2) dif_last4_t(re, im, stride, r, j, tre, tim, ts, 1);
  else
    for (int r = 0; r < size; r += 2)
      for (int j = 0; j < even; j += 2) dif_last2_t(re, im, stride, r, j, tre, tim, ts, 1);
  if (tail) {
    if (len == 4)
      for (int r = 0; r < size; r += 4) dif_last4_t(re, im, stride, r, even, tre, tim, ts, 0);
    else
      for (int r = 0; r < size; r += 2) dif_last2_t(re, im, stride, r, even, tre, tim, ts, 0);
  }
}

/* The radix-4 passes of ditRows from length `len` up to `to_len`. */
static void dit_passes(double *re, double *im, int size, int length, int stride, int len, int to_len, const double *cos_t, const double *sin_t) {
  d2 z[8];
  for (; len <= to_len; len <<= 2) {
    const int q = len >> 2, step = size / len, qs = q * stride;
    for (int start = 0; start < size; start += len) {
      Rows4 g = rows4(re, im, start * stride, qs);
      int j = 0;
      for (; j + 2 <= length; j += 2) { dit_k0_values(&g, j, 1, z); store4(&g, j, 1, z); }
      if (j < length) { dit_k0_values(&g, j, 0, z); store4(&g, j, 0, z); }
      for (int k = 1; k < q; k++) {
        /* −sin[·]: a negation, exact (0 − x would turn −0 into +0; JS's unary minus does not) */
        const d2 v1r = wasm_f64x2_splat(cos_t[k * step]), v1i = wasm_f64x2_neg(wasm_f64x2_splat(sin_t[k * step]));
        const d2 v2r = wasm_f64x2_splat(cos_t[(k + q) * step]), v2i = wasm_f64x2_neg(wasm_f64x2_splat(sin_t[(k + q) * step]));
        const d2 v3r = wasm_f64x2_splat(cos_t[2 * k * step]), v3i = wasm_f64x2_neg(wasm_f64x2_splat(sin_t[2 * k * step]));
        Rows4 h = rows4(re, im, (start + k) * stride, qs);
        j = 0;
        for (; j + 2 <= length; j += 2) { dit_k_values(&h, j, 1, v1r, v1i, v2r, v2i, v3r, v3i, z); store4(&h, j, 1, z); }
        if (j < length) { dit_k_values(&h, j, 0, v1r, v1i, v2r, v2i, v3r, v3i, z); store4(&h, j, 0, z); }
      }
    }
  }
}

/* ditRows(re, im, size, length, stride, fromLen, toLen): the unscaled inverse DIT along the first axis,
   bit-reversed order in, natural out (with an odd number of stages: a radix-2 stage first, then from 8). */
EXPORT(fft_dit_rows)
void fft_dit_rows(double *re, double *im, int size, int length, int stride, int from_len, int to_len, const double *cos_t, const double *sin_t) {
  int len = from_len;
  if (log2i(size) % 2 == 1) {
    fft_radix2(re, im, size, length, stride);
    len = 8;
  }
  dit_passes(re, im, size, length, stride, len, to_len, cos_t, sin_t);
}

/* Rows r..r + 3 of the transposed source at columns j, j + 1 (lane 0 only where !full): x_m lane l =
   from[(j + l)·fs + r + m]. */
INLINE void load_t4(const double *from, int fs, int j, int r, const int full, d2 *x0, d2 *x1, d2 *x2, d2 *x3) {
  const double *a = from + (long)j * fs + r;
  d2 a01 = wasm_v128_load(a), a23 = wasm_v128_load(a + 2);
  d2 b01 = full ? wasm_v128_load(a + fs) : wasm_f64x2_splat(0.0), b23 = full ? wasm_v128_load(a + fs + 2) : wasm_f64x2_splat(0.0);
  *x0 = wasm_i64x2_shuffle(a01, b01, 0, 2);
  *x1 = wasm_i64x2_shuffle(a01, b01, 1, 3);
  *x2 = wasm_i64x2_shuffle(a23, b23, 0, 2);
  *x3 = wasm_i64x2_shuffle(a23, b23, 1, 3);
}

/* ditRows' first pass (length 4, k = 0) at rows r..r + 3, read from the transposed tre/tim. */
INLINE void dit_first4_t(const double *tre, const double *tim, int ts, int r, int j, double *re, double *im, int stride, const int full) {
  d2 x0r, x1r, x2r, x3r, x0i, x1i, x2i, x3i;
  load_t4(tre, ts, j, r, full, &x0r, &x1r, &x2r, &x3r);
  load_t4(tim, ts, j, r, full, &x0i, &x1i, &x2i, &x3i);
  d2 a0r = DADD(x0r, x1r), a0i = DADD(x0i, x1i);
  d2 a1r = DSUB(x0r, x1r), a1i = DSUB(x0i, x1i);
  d2 a2r = DADD(x2r, x3r), a2i = DADD(x2i, x3i);
  d2 u3r = DSUB(x3i, x2i), u3i = DSUB(x2r, x3r);
  double *r0 = re + (long)r * stride, *i0 = im + (long)r * stride;
  dst(r0 + j, DADD(a0r, a2r), full); dst(i0 + j, DADD(a0i, a2i), full);
  dst(r0 + 2 * stride + j, DSUB(a0r, a2r), full); dst(i0 + 2 * stride + j, DSUB(a0i, a2i), full);
  dst(r0 + stride + j, DADD(a1r, u3r), full); dst(i0 + stride + j, DADD(a1i, u3i), full);
  dst(r0 + 3 * stride + j, DSUB(a1r, u3r), full); dst(i0 + 3 * stride + j, DSUB(a1i, u3i), full);
}

/* The radix-2 stage at rows r, r + 1, read from the transposed tre/tim. */
INLINE void dit_first2_t(const double *tre, const double *tim, int ts, int r, int j, double *re, double *im, int stride, const int full) {
  const double *a = tre + (long)j * ts + r, *b = tim + (long)j * ts + r;
  d2 pr = wasm_v128_load(a), pi = wasm_v128_load(b);
  d2 qr = full ? wasm_v128_load(a + ts) : wasm_f64x2_splat(0.0), qi = full ? wasm_v128_load(b + ts) : wasm_f64x2_splat(0.0);
  d2 xr = wasm_i64x2_shuffle(pr, qr, 0, 2), yr = wasm_i64x2_shuffle(pr, qr, 1, 3);
  d2 xi = wasm_i64x2_shuffle(pi, qi, 0, 2), yi = wasm_i64x2_shuffle(pi, qi, 1, 3);
  double *r0 = re + (long)r * stride, *i0 = im + (long)r * stride;
  dst(r0 + j, DADD(xr, yr), full); dst(i0 + j, DADD(xi, yi), full);
  dst(r0 + stride + j, DSUB(xr, yr), full); dst(i0 + stride + j, DSUB(xi, yi), full);
}

/* The transpose of the length × size block of tre/tim (row stride ts) into re/im (row stride stride:
   re[r·stride + j] = tre[j·ts + r]) followed by fft_dit_rows(re, im, size, length, stride, 4, to_len), its first
   pass reading the transposed source directly. */
EXPORT(fft_dit_rows_t)
void fft_dit_rows_t(const double *tre, const double *tim, int ts, double *re, double *im, int size, int length, int stride, int to_len, const double *cos_t, const double *sin_t) {
  const int tail = length & 1, even = length - tail;
  int len;
  const int odd = log2i(size) % 2 == 1;
  if (odd)
    for (int r = 0; r < size; r += 2)
      for (int j = 0; j < even; j += 2) dit_first2_t(tre, tim, ts, r, j, re, im, stride, 1);
  else
    for (int r = 0; r < size; r += 4)
      for (int j = 0; j < even; j += 2) dit_first4_t(tre, tim, ts, r, j, re, im, stride, 1);
  if (tail) {
    if (odd)
      for (int r = 0; r < size; r += 2) dit_first2_t(tre, tim, ts, r, even, re, im, stride, 0);
    else
      for (int r = 0; r < size; r += 4) dit_first4_t(tre, tim, ts, r, even, re, im, stride, 0);
  }
  len = odd ? 8 : 16;
  dit_passes(re, im, size, length, stride, len, to_len, cos_t, sin_t);
}

/* middle: the last forward pass (length 4), the product with the real spectrum k (same layout) and the
   first inverse pass (length 4), four rows at a time. */
INLINE void middle_at(const Rows4 *g, const double *k0p, const double *k1p, const double *k2p, const double *k3p, int j, const int full) {
  LOAD_ROWS4(g, j, full);
  d2 a0r = DADD(x0r, x2r), a0i = DADD(x0i, x2i);
  d2 a2r = DSUB(x0r, x2r), a2i = DSUB(x0i, x2i);
  d2 a1r = DADD(x1r, x3r), a1i = DADD(x1i, x3i);
  d2 a3r = DSUB(x1i, x3i), a3i = DSUB(x3r, x1r);
  d2 k0 = dld(k0p + j, full), k1 = dld(k1p + j, full), k2 = dld(k2p + j, full), k3 = dld(k3p + j, full);
  d2 y0r = DMUL(DADD(a0r, a1r), k0), y0i = DMUL(DADD(a0i, a1i), k0);
  d2 y1r = DMUL(DSUB(a0r, a1r), k1), y1i = DMUL(DSUB(a0i, a1i), k1);
  d2 y2r = DMUL(DADD(a2r, a3r), k2), y2i = DMUL(DADD(a2i, a3i), k2);
  d2 y3r = DMUL(DSUB(a2r, a3r), k3), y3i = DMUL(DSUB(a2i, a3i), k3);
  d2 b0r = DADD(y0r, y1r), b0i = DADD(y0i, y1i);
  d2 b1r = DSUB(y0r, y1r), b1i = DSUB(y0i, y1i);
  d2 b2r = DADD(y2r, y3r), b2i = DADD(y2i, y3i);
  d2 u3r = DSUB(y3i, y2i), u3i = DSUB(y2r, y3r);
  dst(g->r0 + j, DADD(b0r, b2r), full); dst(g->i0 + j, DADD(b0i, b2i), full);
  dst(g->r2 + j, DSUB(b0r, b2r), full); dst(g->i2 + j, DSUB(b0i, b2i), full);
  dst(g->r1 + j, DADD(b1r, u3r), full); dst(g->i1 + j, DADD(b1i, u3i), full);
  dst(g->r3 + j, DSUB(b1r, u3r), full); dst(g->i3 + j, DSUB(b1i, u3i), full);
}

EXPORT(fft_middle)
void fft_middle(double *re, double *im, const double *k, int size, int length, int stride) {
  for (int start = 0; start < size; start += 4) {
    const int o0 = start * stride;
    Rows4 g = rows4(re, im, o0, stride);
    const double *k0 = k + o0, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
    int j = 0;
    for (; j + 2 <= length; j += 2) middle_at(&g, k0, k1, k2, k3, j, 1);
    if (j < length) middle_at(&g, k0, k1, k2, k3, j, 0);
  }
}

/* re[i] *= k[i], im[i] *= k[i] for i < count (the real product where it is not fused). */
EXPORT(fft_real_product)
void fft_real_product(double *re, double *im, const double *k, int count) {
  int i = 0;
  for (; i + 2 <= count; i += 2) {
    d2 kv = dld(k + i, 1);
    dst(re + i, DMUL(dld(re + i, 1), kv), 1);
    dst(im + i, DMUL(dld(im + i, 1), kv), 1);
  }
  for (; i < count; i++) {
    re[i] = re[i] * k[i];
    im[i] = im[i] * k[i];
  }
}

/* loadPlane: padded row y < ph of one plane (pixel (rowOf[y], colOf[x]) of the plane at `base`, channel
   stride c, row stride w·c; zero where an index is −1) into row y of `into` (row stride cols), columns < pw. */
EXPORT(fft_load_plane)
void fft_load_plane(const float *src, double *into, int base, int w, int c, int pw, int cols, const int *row_of, int ph, const int *col_of, int rx) {
  const int left = imin(rx, pw), right = imin(pw, rx + w);
  for (int y = 0; y < ph; y++) {
    double *to = into + (long)y * cols;
    const int sy = row_of[y];
    if (sy < 0) {
      for (int x = 0; x < pw; x++) to[x] = 0.0;
      continue;
    }
    const float *from = src + base + (long)sy * w * c;
    for (int x = 0; x < left; x++) to[x] = col_of[x] < 0 ? 0.0 : (double)from[col_of[x] * c];
    const float *inner = from - rx * c;
    for (int x = left; x < right; x++) to[x] = (double)inner[x * c];
    for (int x = right; x < pw; x++) to[x] = col_of[x] < 0 ? 0.0 : (double)from[col_of[x] * c];
  }
}

/* scaled(): v·scale, clipped to [0, 1] as Math.min(1, Math.max(0, ·)) (f64x2 max/min order −0 below +0 and
   propagate NaN, as Math.max/min do), rounded to float32 (round to nearest even, as a Float32Array store). */
INLINE v128_t scaled2(d2 v, d2 scale, const int clip) {
  d2 s = DMUL(v, scale);
  if (clip) s = wasm_f64x2_min(wasm_f64x2_splat(1.0), wasm_f64x2_max(wasm_f64x2_splat(0.0), s));
  return wasm_f32x4_demote_f64x2_zero(s);
}

/* One output row of ditLastStore's values z (re lanes zr, im lanes zi) at columns j, j + 1 (full) or j. */
INLINE void last_store(float *out, long t, long base_re, long base_im, int j, int c, d2 zr, d2 zi, d2 scale, const int full, const int clip) {
  v128_t fr = scaled2(zr, scale, clip);
  out[base_re + t + (long)j * c] = wasm_f32x4_extract_lane(fr, 0);
  if (full) out[base_re + t + (long)(j + 1) * c] = wasm_f32x4_extract_lane(fr, 1);
  if (base_im >= 0) {
    v128_t fi = scaled2(zi, scale, clip);
    out[base_im + t + (long)j * c] = wasm_f32x4_extract_lane(fi, 0);
    if (full) out[base_im + t + (long)(j + 1) * c] = wasm_f32x4_extract_lane(fi, 1);
  }
}

INLINE void last_group(const Rows4 *g, float *out, const long *t, long base_re, long base_im, int j, int c, d2 scale, const int full, const int clip,
                       int k0, d2 v1r, d2 v1i, d2 v2r, d2 v2i, d2 v3r, d2 v3i) {
  d2 z[8];
  if (k0) dit_k0_values(g, j, full, z);
  else dit_k_values(g, j, full, v1r, v1i, v2r, v2i, v3r, v3i, z);
  for (int r = 0; r < 4; r++)
    if (t[r] >= 0) last_store(out, t[r], base_re, base_im, j, c, z[2 * r], z[2 * r + 1], scale, full, clip);
}

/* ditLastStore: the last pass of ditRows (length size) on `length` columns with the store: grid row r of the
   result, when y0 <= r < y0 + h, goes to output row r − y0 of the plane at base_re (re) and base_im (im; none
   when −1), times scale, clipped with clip. */
EXPORT(fft_dit_last_store)
void fft_dit_last_store(double *re, double *im, int size, int length, int stride, float *out, int base_re, int base_im, int y0, int h, int w, int c,
                        double scale, int clip, const double *cos_t, const double *sin_t) {
  const int q = size >> 2;
  const long row = (long)w * c;
  const d2 sv = wasm_f64x2_splat(scale);
  for (int k = 0; k < q; k++) {
    const d2 v1r = wasm_f64x2_splat(cos_t[k]), v1i = wasm_f64x2_neg(wasm_f64x2_splat(sin_t[k]));
    const d2 v2r = wasm_f64x2_splat(cos_t[k + q]), v2i = wasm_f64x2_neg(wasm_f64x2_splat(sin_t[k + q]));
    const d2 v3r = wasm_f64x2_splat(cos_t[2 * k]), v3i = wasm_f64x2_neg(wasm_f64x2_splat(sin_t[2 * k]));
    Rows4 g = rows4(re, im, k * stride, q * stride);
    long t[4];
    for (int r = 0; r < 4; r++) {
      const int y = k - y0 + r * q;
      t[r] = y >= 0 && y < h ? (long)y * row : -1;
    }
    const int k0 = k == 0;
    int j = 0;
    if (clip) {
      for (; j + 2 <= length; j += 2) last_group(&g, out, t, base_re, base_im, j, c, sv, 1, 1, k0, v1r, v1i, v2r, v2i, v3r, v3i);
      if (j < length) last_group(&g, out, t, base_re, base_im, j, c, sv, 0, 1, k0, v1r, v1i, v2r, v2i, v3r, v3i);
    } else {
      for (; j + 2 <= length; j += 2) last_group(&g, out, t, base_re, base_im, j, c, sv, 1, 0, k0, v1r, v1i, v2r, v2i, v3r, v3i);
      if (j < length) last_group(&g, out, t, base_re, base_im, j, c, sv, 0, 0, k0, v1r, v1i, v2r, v2i, v3r, v3i);
    }
  }
}
