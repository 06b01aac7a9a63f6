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
INLINE f4 madd(f4 acc, f4 a, f4 b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }

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

typedef struct {
  const float *x, *dy;
  float *dw;
  int n, ih, iw, ci, oh, ow, co, kh, kw, sh, sw, dh, dwd, top, left;
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
  for (int r = r0; r < r1; r++) {
    const int b = r / g->oh, oy = r - b * g->oh;
    const int iy = oy * g->sh - g->top + ky * g->dh;
    if (iy < 0 || iy >= g->ih) continue;
    const float *xp = g->x + ((b * g->ih + iy) * g->iw + ox0 * g->sw + xoff) * g->ci + c0;
    const float *dp = g->dy + (r * g->ow + ox0) * g->co + o0;
    for (int ox = ox0; ox < ox1; ox++) {
      f4 d[4];
      for (int v = 0; v < NR / 4; v++) d[v] = ld(dp + 4 * v);
      for (int m = 0; m < MR; m++) {
        const f4 a = splat(xp + m);
        for (int v = 0; v < NR / 4; v++) acc[m][v] = madd(acc[m][v], a, d[v]);
      }
      xp += xstep;
      dp += g->co;
    }
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

/*
 * Filter gradient of a 2-D convolution, part `part` of `parts` (parts split the (tap, input-channel
 * group) pairs: disjoint entries of dw). dw must hold kh*kw*ci*co floats; this part's entries are
 * overwritten. Output rows are taken in blocks whose x and dy rows stay in cache.
 */
EXPORT(conv2d_filter_grad)
void conv2d_filter_grad(const float *x, const float *dy, float *dw, int n, int ih, int iw, int ci, int oh, int ow, int co,
                        int kh, int kw, int sh, int sw, int dh, int dwd, int top, int left, int part, int parts) {
  const FilterGrad g = {x, dy, dw, n, ih, iw, ci, oh, ow, co, kh, kw, sh, sw, dh, dwd, top, left};
  const int groups = (ci + 3) / 4;
  const int units = kh * kw * groups;
  const int u0 = part_lo(units, part, parts), u1 = part_lo(units, part + 1, parts);
  for (int u = u0; u < u1; u++) {
    const int tap = u / groups, c0 = (u - tap * groups) * 4;
    float *out = dw + (tap * ci + c0) * co;
    const int mr = imin(4, ci - c0);
    for (int i = 0; i < mr * co; i++) out[i] = 0.f;
  }
  /* rows per block: about 64 KiB of dy and of the matching x rows */
  const int per_row = ow * co + kh * iw * ci / (sh > 0 ? sh : 1);
  int block = (16 * 1024) / (per_row > 0 ? per_row : 1);
  if (block < 1) block = 1;
  const int rows = n * oh;
  for (int r0 = 0; r0 < rows; r0 += block) {
    const int r1 = imin(rows, r0 + block);
    for (int u = u0; u < u1; u++) {
      const int tap = u / groups, c0 = (u - tap * groups) * 4;
      const int ky = tap / kw, kx = tap - ky * kw;
      fg_tiles(&g, ky, kx, c0, imin(4, ci - c0), r0, r1);
    }
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Input gradient                                                                                   */
/* dx[n][iy][ix][ci] = sum over taps and co of dy[n][oy][ox][co] * w[ky][kx][ci][co] where            */
/*   iy + top - ky*dh = oy*sh and ix + left - kx*dw = ox*sw. No zero insertion: each output phase       */
/*   visits only the taps that reach it.                                                            */
/* ------------------------------------------------------------------------------------------------ */

/*
 * Packs w [kh][kw][ci][co] into panels p[tap][ci / 8][co][8] (input channels padded with zeros to a
 * multiple of 8), the layout conv2d_input_grad reads.
 */
EXPORT(pack_filter_for_input_grad)
void pack_filter_for_input_grad(const float *w, float *p, int kh, int kw, int ci, int co, int part, int parts) {
  const int groups = (ci + 7) / 8;
  const int taps = kh * kw;
  const int t0 = part_lo(taps, part, parts), t1 = part_lo(taps, part + 1, parts);
  for (int t = t0; t < t1; t++) {
    for (int gi = 0; gi < groups; gi++) {
      float *dst = p + ((t * groups + gi) * co) * 8;
      for (int o = 0; o < co; o++) {
        for (int j = 0; j < 8; j++) {
          const int c = gi * 8 + j;
          dst[o * 8 + j] = c < ci ? w[(t * ci + c) * co + o] : 0.f;
        }
      }
    }
  }
}

typedef struct {
  const float *dy, *p;
  float *dx;
  int n, ih, iw, ci, oh, ow, co, kh, kw, sh, sw, dh, dwd, top, left;
} InputGrad;

/* Stores NR (4 or 8) lanes, of which `valid` (1..NR) are kept. */
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
 * MR positions of one phase (dx columns ix = ix0 + m*sw) x one panel of 8 input channels, over the taps
 * `taps` (count nt; each entry: the dy row pointer at ox for m = 0 and the panel pointer). `valid` lanes of
 * the 8 are written.
 */
INLINE void ig_tile(const float *const *dyrows, const float *const *panels, int nt, int co, float *out, int ostep, int valid, const int MR) {
  f4 acc[6][2];
  for (int m = 0; m < MR; m++) acc[m][0] = acc[m][1] = wasm_f32x4_splat(0.f);
  for (int t = 0; t < nt; t++) {
    const float *d = dyrows[t];
    const float *p = panels[t];
    for (int o = 0; o < co; o++) {
      const f4 b0 = ld(p), b1 = ld(p + 4);
      p += 8;
      for (int m = 0; m < MR; m++) {
        const f4 a = splat(d + m * co + o);
        acc[m][0] = madd(acc[m][0], a, b0);
        acc[m][1] = madd(acc[m][1], a, b1);
      }
    }
  }
  for (int m = 0; m < MR; m++) store_lanes(out + m * ostep, acc[m][0], acc[m][1], valid);
}

/* The same for a panel of which at most 4 lanes are used (ci % 8 <= 4): half the arithmetic. */
INLINE void ig_tile4(const float *const *dyrows, const float *const *panels, int nt, int co, float *out, int ostep, int valid, const int MR) {
  f4 acc[6];
  for (int m = 0; m < MR; m++) acc[m] = wasm_f32x4_splat(0.f);
  for (int t = 0; t < nt; t++) {
    const float *d = dyrows[t];
    const float *p = panels[t];
    for (int o = 0; o < co; o++) {
      const f4 b0 = ld(p);
      p += 8;
      for (int m = 0; m < MR; m++) acc[m] = madd(acc[m], splat(d + m * co + o), b0);
    }
  }
  for (int m = 0; m < MR; m++) store_lanes(out + m * ostep, acc[m], acc[m], valid);
}

/*
 * Input gradient of a 2-D convolution for the rows of dx in part `part` of `parts` (rows n*ih + iy).
 * `p` is the filter packed by pack_filter_for_input_grad; `scratch` holds 2*kh*kw pointers per part (the
 * taps of the current run of columns: dy row and panel).
 */
EXPORT(conv2d_input_grad)
void conv2d_input_grad(const float *dy, const float *p, float *dx, const float **scratch, int n, int ih, int iw, int ci, int oh, int ow,
                       int co, int kh, int kw, int sh, int sw, int dh, int dwd, int top, int left, int part, int parts) {
  const int groups = (ci + 7) / 8;
  const float **dyrows = scratch + 2 * kh * kw * part;
  const float **panels = dyrows + kh * kw;
  const int rows = n * ih;
  const int r0 = part_lo(rows, part, parts), r1 = part_lo(rows, part + 1, parts);
  for (int r = r0; r < r1; r++) {
    const int b = r / ih, iy = r - b * ih;
    float *dxrow = dx + (long)r * iw * ci;
    for (int phase = 0; phase < sw && phase < iw; phase++) {
      /* taps reaching this phase: kx with (phase + left - kx*dwd) % sw == 0; d = (phase + left - kx*dwd) / sw,
         ox = j + d for ix = phase + j*sw. Valid j for all taps: [jlo, jhi). */
      const int ncols = (iw - phase + sw - 1) / sw;
      int nt = 0, jlo = 0, jhi = ncols;
      for (int gi = 0; gi < groups; gi++) {
        const int valid = imin(8, ci - gi * 8);
        /* Interior columns: every listed tap valid. Edge columns: per column tap list. */
        int j = 0;
        while (j < ncols) {
          /* Build the tap list for column j and find how many following columns share it. */
          nt = 0;
          int run = ncols - j; /* columns from j with the same valid tap set */
          for (int ky = 0; ky < kh; ky++) {
            const int ty = iy + top - ky * dh;
            if (ty < 0 || ty % sh != 0) continue;
            const int oy = ty / sh;
            if (oy >= oh) continue;
            for (int kx = 0; kx < kw; kx++) {
              const int tx = phase + left - kx * dwd;
              if (((tx % sw) + sw) % sw != 0) continue;
              const int d = floordiv(tx, sw);
              const int ox = j + d;
              /* valid for columns j' with 0 <= j' + d < ow */
              if (ox < 0) {
                /* tap becomes valid at column -d: the run of columns without it ends there */
                run = imin(run, -d - j);
                continue;
              }
              if (ox >= ow) continue; /* never valid again for larger j */
              run = imin(run, ow - d - j);
              dyrows[nt] = dy + (((long)b * oh + oy) * ow + ox) * co;
              panels[nt] = p + (((ky * kw + kx) * groups + gi) * co) * 8;
              nt++;
            }
          }
          if (run < 1) run = 1;
          jlo = j;
          jhi = j + run;
          float *out = dxrow + (phase + jlo * sw) * ci + gi * 8;
          const int ostep = sw * ci;
          int jj = jlo;
          if (valid > 4) {
            for (; jj + 6 <= jhi; jj += 6) {
              ig_tile(dyrows, panels, nt, co, out, ostep, valid, 6);
              for (int t = 0; t < nt; t++) dyrows[t] += 6 * co;
              out += 6 * ostep;
            }
            switch (jhi - jj) {
              case 5: ig_tile(dyrows, panels, nt, co, out, ostep, valid, 5); break;
              case 4: ig_tile(dyrows, panels, nt, co, out, ostep, valid, 4); break;
              case 3: ig_tile(dyrows, panels, nt, co, out, ostep, valid, 3); break;
              case 2: ig_tile(dyrows, panels, nt, co, out, ostep, valid, 2); break;
              case 1: ig_tile(dyrows, panels, nt, co, out, ostep, valid, 1); break;
              default: break;
            }
          } else {
            for (; jj + 6 <= jhi; jj += 6) {
              ig_tile4(dyrows, panels, nt, co, out, ostep, valid, 6);
              for (int t = 0; t < nt; t++) dyrows[t] += 6 * co;
              out += 6 * ostep;
            }
            switch (jhi - jj) {
              case 5: ig_tile4(dyrows, panels, nt, co, out, ostep, valid, 5); break;
              case 4: ig_tile4(dyrows, panels, nt, co, out, ostep, valid, 4); break;
              case 3: ig_tile4(dyrows, panels, nt, co, out, ostep, valid, 3); break;
              case 2: ig_tile4(dyrows, panels, nt, co, out, ostep, valid, 2); break;
              case 1: ig_tile4(dyrows, panels, nt, co, out, ostep, valid, 1); break;
              default: break;
            }
          }
          j = jhi;
        }
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

/* Per-channel mean and (biased) variance, two passes over blocks of 256 rows; channels split across parts. */
EXPORT(batch_norm_stats)
void batch_norm_stats(const float *x, float *mean, float *var, int rows, int c, int part, int parts) {
  const int groups = (c + 3) / 4;
  const int g0 = part_lo(groups, part, parts), g1 = part_lo(groups, part + 1, parts);
  const int c1 = imin(c, g1 * 4);
  const float inv = 1.f / (float)rows;
  int k = g0 * 4;
  for (; k + 4 <= c1; k += 4) {
    f4 t = wasm_f32x4_splat(0.f);
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      f4 a = wasm_f32x4_splat(0.f);
      for (int r = r0; r < r1; r++) a = wasm_f32x4_add(a, ld(x + (long)r * c + k));
      t = wasm_f32x4_add(t, a);
    }
    const f4 m = wasm_f32x4_mul(t, wasm_f32x4_splat(inv));
    f4 v = wasm_f32x4_splat(0.f);
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      f4 a = wasm_f32x4_splat(0.f);
      for (int r = r0; r < r1; r++) {
        const f4 d = wasm_f32x4_sub(ld(x + (long)r * c + k), m);
        a = madd(a, d, d);
      }
      v = wasm_f32x4_add(v, a);
    }
    st(mean + k, m);
    st(var + k, wasm_f32x4_mul(v, wasm_f32x4_splat(inv)));
  }
  for (; k < c1; k++) {
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
 * split across parts.
 */
EXPORT(batch_norm_grad_sums)
void batch_norm_grad_sums(const float *x, const float *dy, const float *mean, float *sums, int rows, int c, int part, int parts) {
  const int groups = (c + 3) / 4;
  const int g0 = part_lo(groups, part, parts), g1 = part_lo(groups, part + 1, parts);
  const int c1 = imin(c, g1 * 4);
  int k = g0 * 4;
  for (; k + 4 <= c1; k += 4) {
    const f4 m = ld(mean + k);
    f4 t = wasm_f32x4_splat(0.f), u = t;
    for (int r0 = 0; r0 < rows; r0 += 256) {
      const int r1 = imin(rows, r0 + 256);
      f4 a = wasm_f32x4_splat(0.f), b = a;
      for (int r = r0; r < r1; r++) {
        const f4 g = ld(dy + (long)r * c + k);
        a = wasm_f32x4_add(a, g);
        b = madd(b, g, wasm_f32x4_sub(ld(x + (long)r * c + k), m));
      }
      t = wasm_f32x4_add(t, a);
      u = wasm_f32x4_add(u, b);
    }
    st(sums + k, t);
    st(sums + c + k, u);
  }
  for (; k < c1; k++) {
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
