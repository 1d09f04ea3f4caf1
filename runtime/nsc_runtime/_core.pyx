# cython: language_level=3
"""The fast simulator kernel: the per-tick model of docs/runtime.md, bit-exact with reference.py.

Design (measured in docs/benchmarks.md, "Runtime"):

- cores are split into one contiguous block per thread. In tick t each thread first delivers
  the spikes of tick t - 1 whose destination core is in its own block into those cores' axon
  rings, then advances its cores independently (integrate, neuron update, collect spikes into
  its outbox for this tick's parity), then waits at the tick's one barrier. Delays are >= 1,
  so a spike is never needed in the tick that sent it; OR is commutative, so results are
  identical for every thread count.
- neurons are stored in "bit-plane" order inside a core: neuron j = 8q + k sits at position
  k * 32 + q (``POSITION``). Byte q of a packed crossbar row holds neurons 8q..8q+7, so the
  synapse counts of an active axon are 8 contiguous 32-byte vector operations: position
  k * 32 + q gets (byte q >> k) & 1. Integration is event-driven: per active axon, its row is
  added to byte counters of its axon type; then ``V += s^G * count^G`` per touched type.
  Stochastic synapses are drawn per (axon, neuron) from a counter-based hash, so draw order is
  irrelevant.
- the neuron update is branch-free and vectorized; a core whose neurons all share parameters
  reads scalars instead of per-neuron arrays (and, if its weights are shared too, folds the
  counts into the same pass); a core with at most 16 distinct parameter sets reads a palette
  and a 4-bit index per neuron (CF_PALETTE; AVX-512: one permute per lookup), folding its
  counts into the same pass. A core with no input whose neurons are provably quiescent
  (no leak, every V in [-beta, alpha)) is skipped: it could neither change nor fire.
- the hot loops are compiled twice, for baseline x86-64 and for AVX2 (chosen at run time); the
  arithmetic is integer-only, so both give identical results.
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t, uintptr_t

import numpy as np

from nsc_runtime import hw

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include <time.h>
    #ifdef _OPENMP
    #include <omp.h>
    #endif
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #include <immintrin.h>
    #endif

    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    #error "nsc_runtime._core assumes a little-endian host"
    #endif

    #define NSC_N 256
    #define NSC_VMIN (-393216)
    #define NSC_VMAX 393215
    #define NSC_RING_SLOTS 16
    #define NSC_MAX_THREADS 64
    #define NSC_PREFETCH 2  /* cores ahead whose header, V and crossbar rows are prefetched */

    /* position of neuron j in a core's bit-plane order, and back */
    #define NSC_POS(j) ((((j) & 7) << 5) | ((j) >> 3))
    #define NSC_NEURON(p) ((((p) & 31) << 3) | ((p) >> 5))

    /* CF_UNIFORM: the neurons share flags, alpha, beta, R and TM (not necessarily leak);
       CF_ULEAK: they share leak; CF_UFLAGS: they share flags (eps, reset mode, kappa,
       stochastic leak); CF_UWEIGHTS: they share s^G (0 where stochastic). */
    enum { CF_UNIFORM = 1, CF_UWEIGHTS = 2, CF_STOCH_SYN = 4, CF_STOCH_NEURON = 8,
           CF_LEAKFREE = 16, CF_ULEAK = 32, CF_UFLAGS = 64, CF_PALETTE = 128,
           CF_PLEAK = 256 };

    /* CF_PALETTE: the core's neurons take their deterministic weights and parameters from a
       palette of at most NSC_PAL entries (pal, derived into pald at Engine creation), with a
       4-bit index per neuron (pidx): the per-neuron tables are never read for it, except, with
       CF_PLEAK, the leak (a per-neuron bias; the palette's leaks are then 0). */
    #define NSC_PAL 16
    #define NSC_PAL_RAW 9   /* pal rows: w0 w1 w2 w3 leak nflags alpha beta reset */
    #define NSC_PAL_ROWS 14 /* pald rows: w0 w1 w2 w3, nsc_det's lpos .. nadd, -eps */

    /* Per-core header: one 64-byte cache line. The neuron parameters are those of neuron 0,
       used for every neuron when CF_UNIFORM; w[G] = s^G of every neuron when CF_UWEIGHTS. */
    typedef struct {
        int32_t cflags, leak, nflags, alpha, beta, reset;
        int32_t w[4];
        uint32_t seed;
        int32_t pad[5];
    } nsc_head;

    /* Tables are per core; per-neuron tables are in bit-plane order (position p). */
    typedef struct {
        int64_t n_cores;
        const nsc_head *head;     /* (C,) */
        const uint64_t *xbar;     /* (C, 256 axons, 4): bit j of row i = w_ij (natural j) */
        const uint64_t *atype;    /* (C, 8): 2 bits per axon, axon i at bits 2 (i % 32) of
                                     word i / 32 */
        const int16_t *wdet;      /* (C, 4, 256 p): s^G, 0 where synapse G is stochastic */
        const int16_t *wfull;     /* (C, 256 p, 4): s^G */
        const uint8_t *pidx;      /* (C, 256 p): palette entry 0..15 of each neuron */
        const int32_t *pald;      /* (C, 13 rows, 16 entries): derived palette (NSC_PAL_ROWS) */
        const uint64_t *smask;    /* (C, 4, 4): bit j: neuron j's type-G synapses are
                                     stochastic (natural j) */
        const int16_t *leak;      /* (C, 256 p) */
        const int32_t *alpha, *beta, *reset;
        const uint8_t *nflags;    /* eps | gamma << 1 | kappa << 3 | stoch_leak << 4 */
        const uint8_t *tm;
        const int64_t *route;     /* (C, 256 p): -1 = none, else (dest_core * 4096 + dest_axon)
                                     << 22 | inter-chip << 21 | mesh hops << 4 | delay;
                                     <= -2: remote line: -2 - route = line << 22 |
                                     inter-chip << 21 | mesh hops << 4 (listed and counted,
                                     not delivered) */
        const int64_t *in_ptr; const int32_t *in_line; const int32_t *in_axon;
        const int64_t *out_ptr; const int32_t *out_pos; const int32_t *out_line;
        const int64_t *box_ptr;   /* (C + 1,): routed neurons before core c */
        const int64_t *rbox_ptr;  /* (C + 1,): remote-line neurons before core c */
        int64_t n_remote;         /* rbox_ptr[C] */
        int64_t *rbox;            /* per run: remote spikes, tick * n_remote + line; thread
                                     of cores [lo, hi) writes from n_ticks * rbox_ptr[lo] */
        int64_t *nrbox;           /* per run: (NSC_MAX_THREADS,) remote spikes per thread */
        int32_t *v;               /* (C, 256 p) state */
        uint64_t *ring;           /* (C, 16 slots, 4): pending axon spikes */
        uint8_t *quiet;           /* (C,) the core was quiescent after its last update */
        uint32_t *outbox;         /* (2, box_ptr[C]): spikes to deliver, by tick parity:
                                     dest_core * 4096 + slot * 256 + dest_axon */
        int isa;                  /* 0 baseline x86-64 (or other CPU), 1 AVX2, 2 AVX-512 */
    } nsc_engine;

    typedef struct {
        uint8_t cnt[4][NSC_N] __attribute__((aligned(64)));  /* synapse counts per type, p */
        uint8_t sp[NSC_N] __attribute__((aligned(64)));      /* spikes of the core, 0/1, p */
        int32_t pend[NSC_N];     /* spiking positions of core pend_core, routed one core later */
        int32_t npend;
        int64_t pend_core;
        int64_t *rbox;           /* this thread's remote-spike list (NULL: none) */
        int64_t nrbox;
    } nsc_scratch;

    static inline uint64_t nsc_mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    static inline int32_t nsc_rho(uint64_t base, int32_t j, int32_t k) {
        return (int32_t)(nsc_mix64(base ^ (uint64_t)(j * 512 + k)) >> 56);
    }

    static inline int32_t nsc_sgn(int32_t x) { return (x > 0) - (x < 0); }
    static inline int32_t nsc_sel(int32_t m, int32_t a, int32_t b) { return (a & m) | (b & ~m); }
    static inline int32_t nsc_clamp(int32_t v) {
        v = v < NSC_VMIN ? NSC_VMIN : v;
        return v > NSC_VMAX ? NSC_VMAX : v;
    }

    /* A deterministic neuron's parameters in the form its update uses:
       leak added when V > 0 / V < 0 / V = 0 (Omega * lambda), positive threshold alpha,
       negative threshold -beta, and the two resets as V = (V & keep) + add. */
    typedef struct { int32_t lpos, lneg, lzero, a, nb, pkeep, padd, nkeep, nadd; } nsc_det;

    static inline __attribute__((always_inline)) nsc_det nsc_derive(
            int32_t l, int32_t f, int32_t a, int32_t b, int32_t r) {
        int32_t eps = -(f & 1), g = (f >> 1) & 3, kap = -((f >> 3) & 1);
        int32_t g0 = -(g == 0), g1 = -(g == 1);
        nsc_det d;
        d.lpos = l;
        d.lneg = nsc_sel(eps, -l, l);
        d.lzero = nsc_sel(eps, 0, l);
        d.a = a;
        d.nb = -b;
        d.pkeep = ~g0;                                    /* mode 0: V = R */
        d.padd = (r & g0) | (-a & g1);                    /* mode 1: V -= alpha */
        d.nkeep = ~kap & ~g0;                             /* kappa: -beta; mode 0: -R */
        d.nadd = nsc_sel(kap, -b, (-r & g0) | (b & g1));  /* mode 1: V += beta */
        return d;
    }

    /* Steps 2-3 of one deterministic neuron: leak, threshold, reset, clamp. */
    static inline __attribute__((always_inline)) int32_t nsc_update(
            int32_t v, nsc_det d, int32_t *spike, int32_t *busy) {
        v += nsc_sel(-(v > 0), d.lpos, nsc_sel(-(v < 0), d.lneg, d.lzero));
        int32_t s = -(v >= d.a);
        int32_t lo = -(v < d.nb);
        int32_t vp = (v & d.pkeep) + d.padd;
        int32_t vn = (v & d.nkeep) + d.nadd;
        v = nsc_clamp(nsc_sel(s, vp, nsc_sel(lo, vn, v)));
        *spike = s & 1;
        *busy = (v >= d.a) | (v < d.nb);
        return v;
    }

    /* nsc_update with the mode flags known at compile time (eps, reset mode g, kappa) and the
       leak l passed in: the shared-parameter pass is compiled once per mode, without the
       selects it does not need. */
    static inline __attribute__((always_inline)) int32_t nsc_update_mode(
            int32_t v, int32_t l, nsc_det d, const int eps, const int g, const int kap,
            int32_t *spike, int32_t *busy) {
        if (eps) v += nsc_sel(-(v > 0), l, nsc_sel(-(v < 0), -l, 0));
        else v += l;
        int32_t s = -(v >= d.a);
        int32_t vp = g == 0 ? d.padd : (g == 1 ? v + d.padd : v);
        int32_t vn;
        if (kap) vn = d.nb;
        else vn = g == 0 ? d.nadd : (g == 1 ? v + d.nadd : v);
        int32_t lo = -(v < d.nb);
        v = nsc_clamp(nsc_sel(s, vp, nsc_sel(lo, vn, v)));
        *spike = s & 1;
        *busy = (v >= d.a) | (v < d.nb);
        return v;
    }

    static inline __attribute__((always_inline)) int32_t nsc_pass_mode(
            int32_t *restrict v, uint8_t *restrict sp, nsc_det d, const int16_t *restrict lk,
            const nsc_scratch *scr, const int32_t *w, const int eps, const int g,
            const int kap, const int leaks) {
        int32_t busy = 0;
        const uint8_t *restrict c0 = scr->cnt[0], *restrict c1 = scr->cnt[1];
        const uint8_t *restrict c2 = scr->cnt[2], *restrict c3 = scr->cnt[3];
        const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        for (int p = 0; p < NSC_N; p++) {
            int32_t s, b;
            int32_t x = v[p] + w0 * c0[p] + w1 * c1[p] + w2 * c2[p] + w3 * c3[p];
            v[p] = nsc_update_mode(x, leaks ? lk[p] : d.lpos, d, eps, g, kap, &s, &b);
            sp[p] = (uint8_t)s;
            busy |= b;
        }
        return busy;
    }

    /* Shared parameters (flags f = nflags): V += sum_G w[G] * cnt[G] (w[G] = 0 for untouched
       types), then steps 2-3, in the variant compiled for the core's mode; the leak is d.lpos
       or, if lk is given, per neuron. */
    static inline __attribute__((always_inline)) int32_t nsc_pass_uniform(
            int32_t *restrict v, uint8_t *restrict sp, int32_t f, nsc_det d,
            const int16_t *restrict lk, const nsc_scratch *scr, const int32_t *w) {
        #define NSC_MODE(e_, g_, k_, l_) case (e_) | (g_) << 1 | (k_) << 3: return nsc_pass_mode(v, sp, d, lk, scr, w, e_, g_, k_, l_);
        #define NSC_MODES(l_) NSC_MODE(0, 0, 0, l_) NSC_MODE(0, 1, 0, l_) NSC_MODE(0, 2, 0, l_) NSC_MODE(0, 0, 1, l_) NSC_MODE(0, 1, 1, l_) NSC_MODE(0, 2, 1, l_) NSC_MODE(1, 0, 0, l_) NSC_MODE(1, 1, 0, l_) NSC_MODE(1, 2, 0, l_) NSC_MODE(1, 0, 1, l_) NSC_MODE(1, 1, 1, l_) NSC_MODE(1, 2, 1, l_)
        if (lk) {
            switch (f & 15) { NSC_MODES(1) default: return 0; }
        } else {
            switch (f & 15) { NSC_MODES(0) default: return 0; }  /* mode 3: never valid */
        }
        #undef NSC_MODES
        #undef NSC_MODE
    }

    static inline __attribute__((always_inline)) int32_t nsc_pass_arrays(
            int32_t *restrict v, uint8_t *restrict sp, const int16_t *restrict lk,
            const uint8_t *restrict fl, const int32_t *restrict al, const int32_t *restrict be,
            const int32_t *restrict rs) {
        int32_t busy = 0;
        for (int p = 0; p < NSC_N; p++) {
            int32_t s, b;
            v[p] = nsc_update(v[p], nsc_derive(lk[p], fl[p], al[p], be[p], rs[p]), &s, &b);
            sp[p] = (uint8_t)s;
            busy |= b;
        }
        return busy;
    }

    /* Per-neuron parameters, with the mode flags the core's neurons share known at compile
       time (the shared-flags counterpart of nsc_pass_arrays). */
    static inline __attribute__((always_inline)) int32_t nsc_pass_mode_arrays(
            int32_t *restrict v, uint8_t *restrict sp, const int16_t *restrict lk,
            const int32_t *restrict al, const int32_t *restrict be, const int32_t *restrict rs,
            const int eps, const int g, const int kap) {
        int32_t busy = 0;
        for (int p = 0; p < NSC_N; p++) {
            int32_t s, b;
            nsc_det d;
            d.a = al[p];
            d.nb = -be[p];
            d.padd = g == 0 ? rs[p] : -d.a;                  /* modes 0, 1 */
            d.nadd = kap ? d.nb : (g == 0 ? -rs[p] : -d.nb);  /* kappa, modes 0, 1 */
            d.lpos = d.lneg = d.lzero = d.pkeep = d.nkeep = 0;  /* not read by _mode */
            v[p] = nsc_update_mode(v[p], lk[p], d, eps, g, kap, &s, &b);
            sp[p] = (uint8_t)s;
            busy |= b;
        }
        return busy;
    }

    static inline __attribute__((always_inline)) int32_t nsc_pass_arrays_shared_flags(
            int32_t *restrict v, uint8_t *restrict sp, int32_t f, const int16_t *restrict lk,
            const int32_t *restrict al, const int32_t *restrict be, const int32_t *restrict rs) {
        #define NSC_MODE(e_, g_, k_) case (e_) | (g_) << 1 | (k_) << 3: return nsc_pass_mode_arrays(v, sp, lk, al, be, rs, e_, g_, k_);
        switch (f & 15) {
        NSC_MODE(0, 0, 0) NSC_MODE(0, 1, 0) NSC_MODE(0, 2, 0) NSC_MODE(0, 0, 1) NSC_MODE(0, 1, 1) NSC_MODE(0, 2, 1)
        NSC_MODE(1, 0, 0) NSC_MODE(1, 1, 0) NSC_MODE(1, 2, 0) NSC_MODE(1, 0, 1) NSC_MODE(1, 1, 1) NSC_MODE(1, 2, 1)
        default: return 0;  /* mode 3: never valid */
        }
        #undef NSC_MODE
    }

    /* Steps 2-3 with stochastic leak and threshold masks: scalar, draws where needed. */
    static inline __attribute__((always_inline)) int32_t nsc_pass_stochastic(
            const nsc_engine *e, int64_t c, uint64_t base, int32_t *restrict v,
            uint8_t *restrict sp) {
        int32_t busy = 0;
        const int64_t o = c * NSC_N;
        for (int32_t p = 0; p < NSC_N; p++) {
            const int32_t j = NSC_NEURON(p);
            int32_t x = v[p], f = e->nflags[o + p], l = e->leak[o + p];
            int32_t g = (f >> 1) & 3, kap = (f >> 3) & 1, tmj = e->tm[o + p];
            int32_t om = (f & 1) ? nsc_sgn(x) : 1;
            if (!(f & 16)) x += om * l;
            else if (l != 0 && (l < 0 ? -l : l) >= nsc_rho(base, j, 256)) x += om * nsc_sgn(l);
            int32_t eta = tmj ? (nsc_rho(base, j, 257) & ((1 << tmj) - 1)) : 0;
            int32_t a = e->alpha[o + p], b = e->beta[o + p], r = e->reset[o + p];
            int32_t s = x >= a + eta;
            if (s) {
                if (g == 0) x = r;
                else if (g == 1) x -= a + eta;
            } else if (x < -(kap ? b : b + eta)) {
                if (kap) x = -b;
                else if (g == 0) x = -r;
                else if (g == 1) x += b + eta;
            }
            x = nsc_clamp(x);
            v[p] = x;
            sp[p] = (uint8_t)s;
            busy |= (x >= a) | (x < -b);
        }
        return busy;
    }

    /* V += s^G * count^G: shared weight s, or per-neuron weights w (bit-plane order). */
    static inline __attribute__((always_inline)) void nsc_fold(
            int32_t *restrict v, const uint8_t *restrict cnt, const int16_t *restrict wdet,
            int64_t at, int32_t s, int uniform) {
        if (uniform) {
            for (int p = 0; p < NSC_N; p++) v[p] += s * (int32_t)cnt[p];
        } else {
            const int16_t *restrict w = wdet + at;
            for (int p = 0; p < NSC_N; p++) v[p] += (int32_t)w[p] * (int32_t)cnt[p];
        }
    }

    /* count[k * 32 + q] (+)= bit k of byte q of the row, for an axon's packed row. */
    static inline __attribute__((always_inline)) void nsc_count(
            uint8_t *restrict cnt, const uint8_t *restrict rb, int first) {
        if (first) {
            for (int k = 0; k < 8; k++)
                for (int q = 0; q < 32; q++) cnt[k * 32 + q] = (uint8_t)((rb[q] >> k) & 1);
        } else {
            for (int k = 0; k < 8; k++)
                for (int q = 0; q < 32; q++) cnt[k * 32 + q] += (uint8_t)((rb[q] >> k) & 1);
        }
    }

    /* The 0/1 spike bytes of a core as four 64-bit masks (bit p % 64 of word p / 64). */
    static inline __attribute__((always_inline)) void nsc_spike_words(
            const uint8_t *restrict sp, uint64_t *restrict out) {
        for (int w = 0; w < 4; w++) {
            uint64_t m = 0;
    #if defined(__SSE2__)
            for (int k = 0; k < 4; k++) {
                __m128i x = _mm_load_si128((const __m128i *)(sp + w * 64 + k * 16));
                m |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_slli_epi16(x, 7)) << (16 * k);
            }
    #else
            for (int k = 0; k < 64; k++) m |= (uint64_t)sp[w * 64 + k] << k;
    #endif
            out[w] = m;
        }
    }

    /* The derived palette of n cores: per entry, its weights and nsc_derive's form. */
    static void nsc_derive_palette(const int32_t *raw, int32_t *out, int64_t n) {
        for (int64_t c = 0; c < n; c++) {
            const int32_t *r = raw + c * NSC_PAL_RAW * NSC_PAL;
            int32_t *o = out + c * NSC_PAL_ROWS * NSC_PAL;
            for (int i = 0; i < NSC_PAL; i++) {
                for (int g = 0; g < 4; g++) o[g * NSC_PAL + i] = r[g * NSC_PAL + i];
                nsc_det d = nsc_derive(r[4 * NSC_PAL + i], r[5 * NSC_PAL + i],
                                       r[6 * NSC_PAL + i], r[7 * NSC_PAL + i],
                                       r[8 * NSC_PAL + i]);
                const int32_t f[9] = {d.lpos, d.lneg, d.lzero, d.a, d.nb, d.pkeep, d.padd,
                                      d.nkeep, d.nadd};
                for (int k = 0; k < 9; k++) o[(4 + k) * NSC_PAL + i] = f[k];
                o[13 * NSC_PAL + i] = -(r[5 * NSC_PAL + i] & 1);  /* leak reversal mask */
            }
        }
    }

    /* V += s^G[idx] * count^G (the palette form of nsc_fold). */
    static inline __attribute__((always_inline)) void nsc_fold_palette(
            int32_t *restrict v, const uint8_t *restrict cnt, const uint8_t *restrict idx,
            const int32_t *restrict w) {
        for (int p = 0; p < NSC_N; p++) v[p] += w[idx[p] & (NSC_PAL - 1)] * (int32_t)cnt[p];
    }

    /* Palette neurons: V += sum_G s^G[idx] * cnt^G over the touched types, then steps 2-3
       (nsc_update) with the entry's derived parameters; with lk, the leak is lk[p]. */
    static inline __attribute__((always_inline)) int32_t nsc_pass_palette(
            int32_t *restrict v, uint8_t *restrict sp, const uint8_t *restrict idx,
            const int32_t *restrict pd, const int16_t *restrict lk, const nsc_scratch *scr,
            const int *use) {
        int32_t w[4][NSC_PAL];
        for (int g = 0; g < 4; g++)
            for (int i = 0; i < NSC_PAL; i++) w[g][i] = use[g] ? pd[g * NSC_PAL + i] : 0;
        int32_t busy = 0;
        for (int p = 0; p < NSC_N; p++) {
            const int i = idx[p] & (NSC_PAL - 1);
            int32_t s, b;
            int32_t x = v[p] + w[0][i] * scr->cnt[0][p] + w[1][i] * scr->cnt[1][p]
                      + w[2][i] * scr->cnt[2][p] + w[3][i] * scr->cnt[3][p];
            nsc_det d;
            d.lpos = pd[4 * NSC_PAL + i]; d.lneg = pd[5 * NSC_PAL + i];
            d.lzero = pd[6 * NSC_PAL + i]; d.a = pd[7 * NSC_PAL + i];
            d.nb = pd[8 * NSC_PAL + i]; d.pkeep = pd[9 * NSC_PAL + i];
            d.padd = pd[10 * NSC_PAL + i]; d.nkeep = pd[11 * NSC_PAL + i];
            d.nadd = pd[12 * NSC_PAL + i];
            if (lk) {
                const int32_t l = lk[p], eps = pd[13 * NSC_PAL + i];
                d.lpos = l;
                d.lneg = nsc_sel(eps, -l, l);
                d.lzero = nsc_sel(eps, 0, l);
            }
            v[p] = nsc_update(x, d, &s, &b);
            sp[p] = (uint8_t)s;
            busy |= b;
        }
        return busy;
    }

    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* nsc_pass_palette with AVX-512: 16 neurons per step, each palette row one register and
       each lookup one permute (the same integer operations, so the same results). With
       general = 0 the core's neurons share their mode (leak reversal eps, reset mode g,
       kappa), known at compile time as in nsc_update_mode: fewer lookups and selects. */
    #define NSC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2")))
    NSC_AVX512 static inline __attribute__((always_inline)) int32_t nsc_palette512_body(
            int32_t *restrict v, uint8_t *restrict sp, const uint8_t *restrict idx,
            const int32_t *restrict pd, const int16_t *restrict lk, const nsc_scratch *scr,
            const int *use, const int general, const int eps, const int g, const int kap) {
        #define NSC_ROW(k) _mm512_loadu_si512(pd + (k) * NSC_PAL)
        const __m512i w0 = NSC_ROW(0), w1 = NSC_ROW(1), w2 = NSC_ROW(2), w3 = NSC_ROW(3);
        const __m512i r4 = NSC_ROW(4), r5 = NSC_ROW(5), r6 = NSC_ROW(6), r7 = NSC_ROW(7);
        const __m512i r8 = NSC_ROW(8), r9 = NSC_ROW(9), r10 = NSC_ROW(10), r11 = NSC_ROW(11);
        const __m512i r12 = NSC_ROW(12), r13 = NSC_ROW(13);
        #undef NSC_ROW
        const __m512i wrow[4] = {w0, w1, w2, w3};
        const __m512i zero = _mm512_setzero_si512();
        const __m512i vmin = _mm512_set1_epi32(NSC_VMIN), vmax = _mm512_set1_epi32(NSC_VMAX);
        __mmask16 busy = 0;
        for (int p = 0; p < NSC_N; p += 16) {
            const __m512i ix = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(idx + p)));
            __m512i x = _mm512_loadu_si512(v + p);
            for (int q = 0; q < 4; q++) {
                if (!use[q]) continue;
                const __m512i c = _mm512_cvtepu8_epi32(
                    _mm_loadu_si128((const __m128i *)(scr->cnt[q] + p)));
                x = _mm512_add_epi32(
                    x, _mm512_mullo_epi32(_mm512_permutexvar_epi32(ix, wrow[q]), c));
            }
            /* 2. leak */
            const __m512i lp = lk ? _mm512_cvtepi16_epi32(
                                        _mm256_loadu_si256((const __m256i *)(lk + p)))
                                  : _mm512_permutexvar_epi32(ix, r4);
            if (general || eps) {
                const __mmask16 gt = _mm512_cmpgt_epi32_mask(x, zero);
                const __mmask16 lt = _mm512_cmplt_epi32_mask(x, zero);
                __m512i ln, lz;
                if (!general) {  /* every neuron reverses: Omega = sgn(V) */
                    ln = _mm512_sub_epi32(zero, lp);
                    lz = zero;
                } else if (lk) {  /* per-neuron leak, palette leak reversal */
                    const __mmask16 e = _mm512_test_epi32_mask(
                        _mm512_permutexvar_epi32(ix, r13), _mm512_set1_epi32(-1));
                    ln = _mm512_mask_sub_epi32(lp, e, zero, lp);
                    lz = _mm512_maskz_mov_epi32((__mmask16)~e, lp);
                } else {
                    ln = _mm512_permutexvar_epi32(ix, r5);
                    lz = _mm512_permutexvar_epi32(ix, r6);
                }
                x = _mm512_add_epi32(
                    x, _mm512_mask_blend_epi32(gt, _mm512_mask_blend_epi32(lt, lz, ln), lp));
            } else {
                x = _mm512_add_epi32(x, lp);
            }
            /* 3. threshold, reset, clamp */
            const __m512i a = _mm512_permutexvar_epi32(ix, r7);
            const __m512i nb = _mm512_permutexvar_epi32(ix, r8);
            const __mmask16 s = _mm512_cmpge_epi32_mask(x, a);
            const __mmask16 lo = _mm512_cmplt_epi32_mask(x, nb);
            __m512i vp, vn;
            if (general) {
                vp = _mm512_add_epi32(_mm512_and_si512(x, _mm512_permutexvar_epi32(ix, r9)),
                                      _mm512_permutexvar_epi32(ix, r10));
                vn = _mm512_add_epi32(_mm512_and_si512(x, _mm512_permutexvar_epi32(ix, r11)),
                                      _mm512_permutexvar_epi32(ix, r12));
            } else {
                /* padd: mode 0 R, mode 1 -alpha; nadd: kappa -beta, mode 0 -R, mode 1 beta */
                const __m512i padd = g < 2 ? _mm512_permutexvar_epi32(ix, r10) : zero;
                vp = g == 0 ? padd : (g == 1 ? _mm512_add_epi32(x, padd) : x);
                if (kap) {
                    vn = nb;
                } else {
                    const __m512i nadd = g < 2 ? _mm512_permutexvar_epi32(ix, r12) : zero;
                    vn = g == 0 ? nadd : (g == 1 ? _mm512_add_epi32(x, nadd) : x);
                }
            }
            x = _mm512_mask_blend_epi32(s, _mm512_mask_blend_epi32(lo, x, vn), vp);
            x = _mm512_min_epi32(_mm512_max_epi32(x, vmin), vmax);
            _mm512_storeu_si512(v + p, x);
            _mm_storeu_si128((__m128i *)(sp + p), _mm_maskz_set1_epi8(s, 1));
            busy |= _mm512_cmpge_epi32_mask(x, a) | _mm512_cmplt_epi32_mask(x, nb);
        }
        return busy != 0;
    }

    /* mode: the flags (eps | g << 1 | kappa << 3) the core's neurons share, or -1. */
    NSC_AVX512 static int32_t nsc_pass_palette_avx512(
            int32_t *restrict v, uint8_t *restrict sp, const uint8_t *restrict idx,
            const int32_t *restrict pd, const int16_t *restrict lk, const nsc_scratch *scr,
            const int *use, const int mode) {
        #define NSC_PMODE(e_, g_, k_) case (e_) | (g_) << 1 | (k_) << 3: return nsc_palette512_body(v, sp, idx, pd, lk, scr, use, 0, e_, g_, k_);
        switch (mode) {
        NSC_PMODE(0, 0, 0) NSC_PMODE(0, 1, 0) NSC_PMODE(0, 2, 0) NSC_PMODE(0, 0, 1) NSC_PMODE(0, 1, 1) NSC_PMODE(0, 2, 1)
        NSC_PMODE(1, 0, 0) NSC_PMODE(1, 1, 0) NSC_PMODE(1, 2, 0) NSC_PMODE(1, 0, 1) NSC_PMODE(1, 1, 1) NSC_PMODE(1, 2, 1)
        default: return nsc_palette512_body(v, sp, idx, pd, lk, scr, use, 1, 0, 0, 0);
        }
        #undef NSC_PMODE
    }

    /* nsc_pass_palette with AVX2: 8 neurons per step; a lookup is two permutes (entries 0..7,
       8..15) and a blend. */
    __attribute__((target("avx2,popcnt,bmi,bmi2")))
    static int32_t nsc_pass_palette_avx2(
            int32_t *restrict v, uint8_t *restrict sp, const uint8_t *restrict idx,
            const int32_t *restrict pd, const int16_t *restrict lk, const nsc_scratch *scr,
            const int *use, const int noeps) {
        __m256i rlo[NSC_PAL_ROWS], rhi[NSC_PAL_ROWS];
        for (int k = 0; k < NSC_PAL_ROWS; k++) {
            rlo[k] = _mm256_loadu_si256((const __m256i *)(pd + k * NSC_PAL));
            rhi[k] = _mm256_loadu_si256((const __m256i *)(pd + k * NSC_PAL + 8));
        }
        const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi32(-1);
        const __m256i seven = _mm256_set1_epi32(7);
        const __m256i vmin = _mm256_set1_epi32(NSC_VMIN), vmax = _mm256_set1_epi32(NSC_VMAX);
        __m256i busy = zero;
        for (int p = 0; p < NSC_N; p += 8) {
            const __m256i ix = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(idx + p)));
            const __m256i up = _mm256_cmpgt_epi32(ix, seven);
    #define NSC_LOOK(k) _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(rlo[k], ix), \
                                           _mm256_permutevar8x32_epi32(rhi[k], ix), up)
            __m256i x = _mm256_loadu_si256((const __m256i *)(v + p));
            for (int g = 0; g < 4; g++) {
                if (!use[g]) continue;
                const __m256i c = _mm256_cvtepu8_epi32(
                    _mm_loadl_epi64((const __m128i *)(scr->cnt[g] + p)));
                x = _mm256_add_epi32(x, _mm256_mullo_epi32(NSC_LOOK(g), c));
            }
            __m256i lp, ln, lz;
            if (noeps) {
                lp = lk ? _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(lk + p)))
                        : NSC_LOOK(4);
                ln = lz = lp;
            } else if (lk) {
                lp = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(lk + p)));
                const __m256i eps = NSC_LOOK(13);
                ln = _mm256_blendv_epi8(lp, _mm256_sub_epi32(zero, lp), eps);
                lz = _mm256_andnot_si256(eps, lp);
            } else {
                lp = NSC_LOOK(4);
                ln = NSC_LOOK(5);
                lz = NSC_LOOK(6);
            }
            if (noeps) {
                x = _mm256_add_epi32(x, lp);
            } else {
                const __m256i gt = _mm256_cmpgt_epi32(x, zero);
                const __m256i lt = _mm256_cmpgt_epi32(zero, x);
                x = _mm256_add_epi32(
                    x, _mm256_blendv_epi8(_mm256_blendv_epi8(lz, ln, lt), lp, gt));
            }
            const __m256i a = NSC_LOOK(7), nb = NSC_LOOK(8);
            const __m256i below = _mm256_cmpgt_epi32(a, x);   /* no spike: V < alpha */
            const __m256i low = _mm256_cmpgt_epi32(nb, x);    /* V < -beta */
            const __m256i vp = _mm256_add_epi32(_mm256_and_si256(x, NSC_LOOK(9)), NSC_LOOK(10));
            const __m256i vn = _mm256_add_epi32(_mm256_and_si256(x, NSC_LOOK(11)), NSC_LOOK(12));
    #undef NSC_LOOK
            x = _mm256_blendv_epi8(vp, _mm256_blendv_epi8(x, vn, low), below);
            x = _mm256_min_epi32(_mm256_max_epi32(x, vmin), vmax);
            _mm256_storeu_si256((__m256i *)(v + p), x);
            const uint64_t fired = (~(uint64_t)_mm256_movemask_ps(_mm256_castsi256_ps(below))) & 0xFF;
            const uint64_t bytes = _pdep_u64(fired, 0x0101010101010101ULL);
            memcpy(sp + p, &bytes, 8);
            busy = _mm256_or_si256(busy, _mm256_or_si256(
                _mm256_xor_si256(_mm256_cmpgt_epi32(a, x), ones), _mm256_cmpgt_epi32(nb, x)));
        }
        return !_mm256_testz_si256(busy, busy);
    }
    #define NSC_HAVE_PAL512 1
    #else
    #define NSC_HAVE_PAL512 0
    #endif

    /* Profiling clock: the time-stamp counter where there is one (a few ns per read),
       converted to seconds per run by nsc_run; else CLOCK_MONOTONIC in seconds. */
    static inline double nsc_wall(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #include <x86intrin.h>
    static inline double nsc_now(void) { return (double)__rdtsc(); }
    #else
    static inline double nsc_now(void) { return nsc_wall(); }
    #endif

    /* Route the spikes left pending by the previous core (their route words were prefetched
       then, so the random loads overlap with that core's work). */
    static inline __attribute__((always_inline)) void nsc_route_pending(
            const nsc_engine *e, nsc_scratch *scr, int64_t t, uint32_t *box, int64_t *nbox,
            int64_t *ctr) {
        const int64_t c = scr->pend_core, o = c * NSC_N;
        int64_t n = *nbox;
        for (int32_t k = 0; k < scr->npend; k++) {
            int64_t r = e->route[o + scr->pend[k]];
            if (r < 0) {
                if (r < -1) {  /* a remote line: listed for the caller, counted as routed */
                    const int64_t x = -2 - r;
                    scr->rbox[scr->nrbox++] = t * e->n_remote + (x >> 22);
                    ctr[2] += 1;
                    ctr[3] += (x >> 4) & 0x1FFFF;
                    ctr[4] += (x >> 21) & 1;
                }
                continue;
            }
            int64_t d = r >> 22;
            box[n++] = (uint32_t)(d + (((t + (r & 15)) & 15) << 8));
            ctr[2] += (d >> 12) != c;
            ctr[3] += (r >> 4) & 0x1FFFF;
            ctr[4] += (r >> 21) & 1;
        }
        *nbox = n;
        scr->npend = 0;
    }

    /* Fold core c's counted synapses of axon type g into the potentials v: through the
       core's parameter palette or its per-neuron weights (the one place that chooses). */
    static inline __attribute__((always_inline)) void nsc_fold_type(
            const nsc_engine *e, nsc_scratch *scr, const nsc_head *h, int64_t c, int g,
            int32_t *v) {
        const int64_t o = c * NSC_N;
        if (h->cflags & CF_PALETTE)
            nsc_fold_palette(v, scr->cnt[g], e->pidx + o,
                             e->pald + (c * NSC_PAL_ROWS + g) * NSC_PAL);
        else
            nsc_fold(v, scr->cnt[g], e->wdet, o * 4 + g * NSC_N, h->w[g],
                     h->cflags & CF_UWEIGHTS);
    }

    /* Advance core c by tick t. Spikes to route are appended to box[*nbox...]. */
    static inline __attribute__((always_inline)) void nsc_core_tick_impl(
            const nsc_engine *e, int64_t c, int64_t t, const uint8_t *in_row,
            uint8_t *out_row, uint32_t *box, int64_t *nbox, int64_t *ctr, nsc_scratch *scr,
            double *prof) {
        uint64_t *slot = e->ring + (c * 16 + (t & 15)) * 4;
        uint64_t act[4] = {slot[0], slot[1], slot[2], slot[3]};
        slot[0] = slot[1] = slot[2] = slot[3] = 0;
        for (int64_t p = e->in_ptr[c]; p < e->in_ptr[c + 1]; p++) {
            if (in_row[e->in_line[p]]) {
                int32_t a = e->in_axon[p];
                act[a >> 6] |= 1ULL << (a & 63);
            }
        }
        if (!(act[0] | act[1] | act[2] | act[3]) && e->quiet[c]) return;
        double t0 = prof ? nsc_now() : 0.0;
        const nsc_head *h = e->head + c;
        const int cf = h->cflags;
        const int64_t o = c * NSC_N;
        const uint64_t *types = e->atype + c * 8;
        int32_t *v = e->v + o;
        uint64_t base = 0;
        if (cf & (CF_STOCH_SYN | CF_STOCH_NEURON))
            base = nsc_mix64(((uint64_t)h->seed << 32) | (uint64_t)(uint32_t)t);
        /* 1. integrate: count synapses per type (folding early before a byte overflows) */
        int n_in[4] = {0, 0, 0, 0};
        int64_t syn = 0;
        for (int w = 0; w < 4; w++) {
            uint64_t bits = act[w];
            while (bits) {
                int32_t i = w * 64 + __builtin_ctzll(bits);
                bits &= bits - 1;
                int g = (int)((types[i >> 5] >> ((i & 31) * 2)) & 3);
                const uint64_t *row = e->xbar + (o + i) * 4;
                if (n_in[g] == 255) {
                    nsc_fold_type(e, scr, h, c, g, v);
                    n_in[g] = 0;
                }
                nsc_count(scr->cnt[g], (const uint8_t *)row, n_in[g] == 0);
                n_in[g]++;
                syn += __builtin_popcountll(row[0]) + __builtin_popcountll(row[1])
                     + __builtin_popcountll(row[2]) + __builtin_popcountll(row[3]);
                if (cf & CF_STOCH_SYN) {
                    const uint64_t *sm = e->smask + (c * 4 + g) * 4;
                    for (int q = 0; q < 4; q++) {
                        uint64_t m = row[q] & sm[q];
                        while (m) {
                            int32_t j = q * 64 + __builtin_ctzll(m);
                            m &= m - 1;
                            int32_t s = e->wfull[(o + NSC_POS(j)) * 4 + g];
                            if ((s < 0 ? -s : s) >= nsc_rho(base, j, i))
                                v[NSC_POS(j)] += nsc_sgn(s);
                        }
                    }
                }
            }
        }
        ctr[0] += syn;
        /* 2-3. fold the counts, then leak, threshold, reset, clamp */
        int32_t busy;
        double t1;
        const int16_t *leaks = (cf & CF_ULEAK) ? NULL : e->leak + o;
        if ((cf & CF_PALETTE) && !(cf & CF_STOCH_NEURON)) {
            const int use[4] = {n_in[0] != 0, n_in[1] != 0, n_in[2] != 0, n_in[3] != 0};
            const int32_t *pd = e->pald + c * NSC_PAL_ROWS * NSC_PAL;
            const int16_t *lk = (cf & CF_PLEAK) ? e->leak + o : NULL;
            const int noeps = (cf & CF_UFLAGS) && !(h->nflags & 1);  /* no leak reversal */
            const int mode = (cf & CF_UFLAGS) ? (h->nflags & 15) : -1;  /* shared mode */
            t1 = prof ? nsc_now() : 0.0;
    #if NSC_HAVE_PAL512
            if (e->isa == 2)
                busy = nsc_pass_palette_avx512(v, scr->sp, e->pidx + o, pd, lk, scr, use, mode);
            else if (e->isa == 1)
                busy = nsc_pass_palette_avx2(v, scr->sp, e->pidx + o, pd, lk, scr, use, noeps);
            else
    #endif
                busy = nsc_pass_palette(v, scr->sp, e->pidx + o, pd, lk, scr, use);
        } else if ((cf & CF_UNIFORM) && (cf & CF_UWEIGHTS) && !(cf & CF_STOCH_NEURON)) {
            int32_t w[4];
            for (int g = 0; g < 4; g++) w[g] = n_in[g] ? h->w[g] : 0;
            t1 = prof ? nsc_now() : 0.0;
            busy = nsc_pass_uniform(
                v, scr->sp, h->nflags,
                nsc_derive(h->leak, h->nflags, h->alpha, h->beta, h->reset), leaks, scr, w);
        } else {
            for (int g = 0; g < 4; g++)
                if (n_in[g]) nsc_fold_type(e, scr, h, c, g, v);
            t1 = prof ? nsc_now() : 0.0;
            static const int32_t none[4] = {0, 0, 0, 0};
            if (cf & CF_STOCH_NEURON) {
                busy = nsc_pass_stochastic(e, c, base, v, scr->sp);
            } else if (cf & CF_UNIFORM) {
                busy = nsc_pass_uniform(
                    v, scr->sp, h->nflags,
                    nsc_derive(h->leak, h->nflags, h->alpha, h->beta, h->reset), leaks, scr,
                    none);
            } else if (cf & CF_UFLAGS) {
                busy = nsc_pass_arrays_shared_flags(v, scr->sp, h->nflags, e->leak + o,
                                                    e->alpha + o, e->beta + o, e->reset + o);
            } else {
                busy = nsc_pass_arrays(v, scr->sp, e->leak + o, e->nflags + o, e->alpha + o,
                                       e->beta + o, e->reset + o);
            }
        }
        e->quiet[c] = (uint8_t)((cf & CF_LEAKFREE) && !busy);
        double t2 = prof ? nsc_now() : 0.0;
        /* 4. route the previous core's spikes, leave this core's pending, report */
        if (scr->npend) nsc_route_pending(e, scr, t, box, nbox, ctr);
        int32_t np = 0;
        uint64_t spikes[4];
        nsc_spike_words(scr->sp, spikes);
        for (int w = 0; w < 4; w++) {
            uint64_t m = spikes[w];
            while (m) {
                int32_t p = w * 64 + __builtin_ctzll(m);
                m &= m - 1;
                __builtin_prefetch(e->route + o + p);
                scr->pend[np++] = p;
            }
        }
        scr->npend = np;
        scr->pend_core = c;
        ctr[1] += np;
        for (int64_t p = e->out_ptr[c]; p < e->out_ptr[c + 1]; p++)
            out_row[e->out_line[p]] = scr->sp[e->out_pos[p]];
        if (prof) {
            double t3 = nsc_now();
            prof[0] += t1 - t0;
            prof[1] += t2 - t1;
            prof[2] += t3 - t2;
        }
    }

    typedef void (*nsc_core_fn)(const nsc_engine *, int64_t, int64_t, const uint8_t *,
                                uint8_t *, uint32_t *, int64_t *, int64_t *, nsc_scratch *,
                                double *);

    static void nsc_core_tick_base(const nsc_engine *e, int64_t c, int64_t t,
                                   const uint8_t *in_row, uint8_t *out_row, uint32_t *box,
                                   int64_t *nbox, int64_t *ctr, nsc_scratch *scr,
                                   double *prof) {
        nsc_core_tick_impl(e, c, t, in_row, out_row, box, nbox, ctr, scr, prof);
    }

    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #define NSC_X86_VARIANTS 1
    __attribute__((target("avx2,popcnt,bmi,bmi2")))
    static void nsc_core_tick_avx2(const nsc_engine *e, int64_t c, int64_t t,
                                   const uint8_t *in_row, uint8_t *out_row, uint32_t *box,
                                   int64_t *nbox, int64_t *ctr, nsc_scratch *scr,
                                   double *prof) {
        nsc_core_tick_impl(e, c, t, in_row, out_row, box, nbox, ctr, scr, prof);
    }
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,popcnt,bmi,bmi2")))
    static void nsc_core_tick_avx512(const nsc_engine *e, int64_t c, int64_t t,
                                     const uint8_t *in_row, uint8_t *out_row, uint32_t *box,
                                     int64_t *nbox, int64_t *ctr, nsc_scratch *scr,
                                     double *prof) {
        nsc_core_tick_impl(e, c, t, in_row, out_row, box, nbox, ctr, scr, prof);
    }
    static int nsc_cpu_isa(void) {
        __builtin_cpu_init();
        int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")
            && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
        int avx512 = avx2 && __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512dq");
        return avx512 ? 2 : (avx2 ? 1 : 0);
    }
    #else
    #define NSC_X86_VARIANTS 0
    static int nsc_cpu_isa(void) { return 0; }
    #endif
    static int nsc_openmp(void) {
    #ifdef _OPENMP
        return 1;
    #else
        return 0;
    #endif
    }

    /* Deliver the spikes of outbox half `par` whose destination core lies in [lo, hi). */
    static void nsc_deliver(const nsc_engine *e, const int64_t *nbox, int par, int nt,
                            int64_t lo, int64_t hi) {
        const uint32_t *half = e->outbox + par * e->box_ptr[e->n_cores];
        for (int m = 0; m < nt; m++) {
            const uint32_t *bx = half + e->box_ptr[e->n_cores * m / nt];
            const int64_t n = nbox[par * NSC_MAX_THREADS + m];
            for (int64_t k = 0; k < n; k++) {
                if (k + 16 < n) __builtin_prefetch(e->ring + (bx[k + 16] >> 6), 1);
                const uint32_t pos = bx[k];
                const int64_t dc = pos >> 12;
                if (dc >= lo && dc < hi) e->ring[pos >> 6] |= 1ULL << (pos & 63);
            }
        }
    }

    /* OR spikes into the rings: pos = core * 4096 + slot * 256 + axon (checked by the caller). */
    static void nsc_inject(const nsc_engine *e, const int64_t *pos, int64_t n) {
        for (int64_t k = 0; k < n; k++) e->ring[pos[k] >> 6] |= 1ULL << (pos[k] & 63);
    }

    /* Run ticks t0 .. t0 + n_ticks - 1. Returns the number of threads used.
       Each thread owns the cores [lo, hi). Tick t: deliver the spikes of tick t - 1 bound for
       its own cores (outbox half (t - 1) & 1), advance its cores (spikes into half t & 1),
       barrier. Delays are >= 1, so tick t - 1's spikes are never needed by tick t - 1.
       counters: synaptic events, neuron spikes, cross-core spikes, mesh hops, inter-chip
       spikes (routes flagged inter-chip). Spikes of remote-line neurons are listed in
       e->rbox (per thread, counts in e->nrbox), not delivered nor counted as routed. */
    static int nsc_run(const nsc_engine *e, int64_t t0, int64_t n_ticks, const uint8_t *in,
                       int64_t n_in, uint8_t *out, int64_t n_out, int n_threads,
                       int64_t *counters, double *prof) {
        int64_t nbox[2 * NSC_MAX_THREADS];
        int used = 1;
        const double wall0 = nsc_wall(), clock0 = nsc_now();
        nsc_core_fn fn = nsc_core_tick_base;
    #if NSC_X86_VARIANTS
        if (e->isa == 1) fn = nsc_core_tick_avx2;
        if (e->isa == 2) fn = nsc_core_tick_avx512;
    #endif
        if (n_threads < 1) n_threads = 1;
        if (n_threads > NSC_MAX_THREADS) n_threads = NSC_MAX_THREADS;
        if ((int64_t)n_threads > e->n_cores) n_threads = e->n_cores > 0 ? (int)e->n_cores : 1;
        #pragma omp parallel num_threads(n_threads)
        {
            int tid = 0, nt = 1;
    #ifdef _OPENMP
            tid = omp_get_thread_num();
            nt = omp_get_num_threads();
    #endif
            const int64_t lo = e->n_cores * tid / nt, hi = e->n_cores * (tid + 1) / nt;
            const int64_t routed = e->box_ptr[e->n_cores];
            int64_t ctr[5] = {0, 0, 0, 0, 0};
            double pf[4] = {0.0, 0.0, 0.0, 0.0};
            nsc_scratch scr;
            memset(&scr, 0, sizeof scr);
            if (e->n_remote) scr.rbox = e->rbox + n_ticks * e->rbox_ptr[lo];
            for (int64_t k = 0; k < n_ticks; k++) {
                const int64_t t = t0 + k;
                const int par = (int)(t & 1);
                uint32_t *box = e->outbox + par * routed + e->box_ptr[lo];
                int64_t nb = 0;
                if (k > 0) {
                    double d0 = prof ? nsc_now() : 0.0;
                    nsc_deliver(e, nbox, par ^ 1, nt, lo, hi);
                    if (prof) pf[3] += nsc_now() - d0;
                }
                scr.npend = 0;
                for (int64_t c = lo; c < hi; c++) {
                    const int64_t cp = c + NSC_PREFETCH;
                    if (cp + NSC_PREFETCH < hi)  /* the ring slot read below, two cores on */
                        __builtin_prefetch(e->ring + ((cp + NSC_PREFETCH) * 16 + (t & 15)) * 4);
                    if (cp < hi) {  /* prefetch a later core's header, V and crossbar rows */
                        const uint64_t *ns = e->ring + (cp * 16 + (t & 15)) * 4;
                        __builtin_prefetch(e->head + cp);
                        __builtin_prefetch(e->atype + cp * 8);
                        for (int w = 0; w < 4; w++) {
                            uint64_t bits = ns[w];
                            while (bits) {
                                int i = w * 64 + __builtin_ctzll(bits);
                                bits &= bits - 1;
                                __builtin_prefetch(e->xbar + (cp * NSC_N + i) * 4);
                            }
                        }
                    }
                    fn(e, c, t, in + k * n_in, out + k * n_out, box, &nb, ctr, &scr,
                       prof ? pf : NULL);
                }
                if (scr.npend) nsc_route_pending(e, &scr, t, box, &nb, ctr);
                nbox[par * NSC_MAX_THREADS + tid] = nb;
                #pragma omp barrier
            }
            if (n_ticks > 0) nsc_deliver(e, nbox, (int)((t0 + n_ticks - 1) & 1), nt, lo, hi);
            #pragma omp critical
            {
                for (int q = 0; q < 5; q++) counters[q] += ctr[q];
                if (prof) for (int q = 0; q < 4; q++) prof[q] += pf[q];
                if (e->n_remote) e->nrbox[tid] = scr.nrbox;
                if (tid == 0) used = nt;
            }
        }
        if (prof) {  /* profile clock units -> seconds */
            const double clocks = nsc_now() - clock0, seconds = nsc_wall() - wall0;
            const double scale = clocks > 0.0 ? seconds / clocks : 0.0;
            for (int q = 0; q < 4; q++) prof[q] *= scale;
        }
        return used;
    }
    """
    ctypedef struct nsc_engine:
        int64_t n_cores
        const void *head
        const uint64_t *xbar
        const uint64_t *atype
        const int16_t *wdet
        const int16_t *wfull
        const uint64_t *smask
        const uint8_t *pidx
        const int32_t *pald
        const int16_t *leak
        const int32_t *alpha
        const int32_t *beta
        const int32_t *reset
        const uint8_t *nflags
        const uint8_t *tm
        const int64_t *route
        const int64_t *in_ptr
        const int32_t *in_line
        const int32_t *in_axon
        const int64_t *out_ptr
        const int32_t *out_pos
        const int32_t *out_line
        const int64_t *box_ptr
        const int64_t *rbox_ptr
        int64_t n_remote
        int64_t *rbox
        int64_t *nrbox
        int32_t *v
        uint64_t *ring
        uint8_t *quiet
        uint32_t *outbox
        int isa

    int nsc_cpu_isa()
    int nsc_openmp()
    void nsc_derive_palette(const int32_t *raw, int32_t *out, int64_t n)
    void nsc_inject(const nsc_engine *e, const int64_t *pos, int64_t n) nogil
    enum:
        NSC_N
        NSC_VMIN
        NSC_VMAX
        NSC_PAL
        NSC_PAL_RAW
        NSC_PAL_ROWS
        NSC_RING_SLOTS
        NSC_MAX_THREADS
    int nsc_run(const nsc_engine *e, int64_t t0, int64_t n_ticks, const uint8_t *inp,
                int64_t n_in, uint8_t *out, int64_t n_out, int n_threads,
                int64_t *counters, double *prof) nogil

CF_UNIFORM, CF_UWEIGHTS, CF_STOCH_SYN, CF_STOCH_NEURON = 1, 2, 4, 8
CF_LEAKFREE, CF_ULEAK, CF_UFLAGS, CF_PALETTE, CF_PLEAK = 16, 32, 64, 128, 256
PALETTE_SIZE = NSC_PAL  # entries of a core's palette (CF_PALETTE)
PALETTE_RAW = ("w0", "w1", "w2", "w3", "leak", "nflags", "alpha", "beta", "reset")  # pal rows
# the kernel's compiled-in hardware facts must be hw.py's
if (NSC_N, NSC_VMIN, NSC_VMAX, NSC_RING_SLOTS) != (
        hw.NEURONS_PER_CORE, hw.V_MIN, hw.V_MAX, hw.RING_SLOTS) or hw.AXONS_PER_CORE != NSC_N:
    raise ImportError("nsc_runtime._core was built for other hardware constants than hw.py")
if len(PALETTE_RAW) != NSC_PAL_RAW:
    raise ImportError("nsc_runtime._core: palette layout mismatch")
# route words: dest_core * ROUTE_CORE_STRIDE + ring slot * 256 + dest_axon
ROUTE_CORE_STRIDE = hw.RING_SLOTS * hw.AXONS_PER_CORE
# route table: (dest_core * ROUTE_CORE_STRIDE + dest_axon) << ROUTE_SHIFT | inter-chip flag
# (ROUTE_INTER_CHIP) | mesh hops << 4 (ROUTE_HOPS_MAX at most) | delay; -1: no route;
# -2 - (i << ROUTE_SHIFT | inter-chip flag | hops << 4): remote line i (to another process:
# the spike is listed for the caller, see Engine.run, and counted as a cross-core spike)
ROUTE_SHIFT = 22
ROUTE_INTER_CHIP = 1 << 21
ROUTE_HOPS_MAX = (1 << 17) - 1
# POSITION[j]: where neuron j sits in a core's bit-plane order; NEURON[p]: which neuron sits at p
POSITION = np.array([((j & 7) << 5) | (j >> 3) for j in range(256)], np.int64)
NEURON = np.argsort(POSITION)
# int32 slots of a core's header line (nsc_head)
HEAD_FIELDS = ("cflags", "leak", "nflags", "alpha", "beta", "reset", "w0", "w1", "w2", "w3",
               "seed")

# name -> (dtype, elements per core or None for a fixed size): the tables an Engine needs.
# The tables of OPTIONAL may be empty when no core needs them (see needed_tables).
TABLES = {
    "head": ("<i4", 16),
    "xbar": ("<u8", 256 * 4),
    "atype": ("<u8", 8),
    "wdet": ("<i2", 4 * 256),
    "wfull": ("<i2", 256 * 4),
    "smask": ("<u8", 4 * 4),
    "leak": ("<i2", 256),
    "alpha": ("<i4", 256),
    "beta": ("<i4", 256),
    "reset": ("<i4", 256),
    "nflags": ("u1", 256),
    "tm": ("u1", 256),
    "pidx": ("u1", 256),
    "pal": ("<i4", NSC_PAL_RAW * NSC_PAL),
    "route": ("<i8", 256),
    "v0": ("<i4", 256),
    "in_ptr": ("<i8", None),
    "in_line": ("<i4", None),
    "in_axon": ("<i4", None),
    "out_ptr": ("<i8", None),
    "out_pos": ("<i4", None),
    "out_line": ("<i4", None),
    "box_ptr": ("<i8", None),
    "rbox_ptr": ("<i8", None),
}


OPTIONAL = {
    "wdet": "weights differ between the neurons of a core",
    "wfull": "stochastic synapses",
    "smask": "stochastic synapses",
    "leak": "per-neuron parameters or leaks",
    "alpha": "per-neuron parameters",
    "beta": "per-neuron parameters",
    "reset": "per-neuron parameters",
    "nflags": "per-neuron parameters",
    "tm": "per-neuron parameters",
    "pidx": "palette cores",
    "pal": "palette cores",
}

# value ranges the kernel relies on (hardware limits, hw.py): tables and header slots
VALUE_RANGES = {
    "leak": (hw.LEAK_MIN, hw.LEAK_MAX),
    "alpha": (0, hw.ALPHA_MAX),
    "beta": (0, hw.BETA_MAX),
    "reset": (hw.RESET_MIN, hw.RESET_MAX),
    "v0": (hw.V_MIN, hw.V_MAX),
    "wdet": (hw.WEIGHT_MIN, hw.WEIGHT_MAX),
    "wfull": (hw.WEIGHT_MIN, hw.WEIGHT_MAX),
    "tm": (0, hw.TM_MAX),
    "nflags": (0, 31),
}


def needed_tables(cflags):
    """The OPTIONAL tables that cores with these flags read."""
    cflags = np.asarray(cflags)
    need = set()
    palette = (cflags & CF_PALETTE) != 0  # weights always from the palette
    stoch = (cflags & CF_STOCH_NEURON) != 0
    pal_update = palette & ~stoch  # steps 2-3 from the palette
    if (((cflags & CF_UWEIGHTS) == 0) & ~palette).any():
        need.add("wdet")
    if (cflags & CF_STOCH_SYN).any():
        need.update(("wfull", "smask"))
    if ((((cflags & CF_UNIFORM) == 0) & ~pal_update) | stoch).any():
        need.update(("leak", "alpha", "beta", "reset", "nflags", "tm"))
    pal_leak = pal_update & ((cflags & CF_PLEAK) != 0)  # palette with per-neuron leak
    if ((((cflags & CF_ULEAK) == 0) & ~pal_update) | pal_leak).any():
        need.add("leak")
    if palette.any():
        need.update(("pidx", "pal"))
    return need


ISAS = ("baseline", "avx2", "avx512")  # kernel builds, in order of preference


def available_isas():
    """The kernel builds this CPU can run (all compute identical results)."""
    return ISAS[:nsc_cpu_isa() + 1]


def have_openmp():
    """Whether the extension was compiled with OpenMP (else every run uses one thread)."""
    return bool(nsc_openmp())


def _aligned_zeros(n, dtype):
    """A zeroed 1-D array of ``n`` elements starting on a 64-byte (cache line) boundary."""
    dt = np.dtype(dtype)
    raw = np.zeros(n * dt.itemsize + 64, np.uint8)
    start = -raw.__array_interface__["data"][0] % 64
    return raw[start:start + n * dt.itemsize].view(dt)


cdef uintptr_t _addr(object arr):
    return <uintptr_t>arr.__array_interface__["data"][0]


cdef class Engine:
    """One simulation state over shared read-only tables (built by ``sim.build_tables``).

    ``Engine(tables, n_cores, n_in, n_out, isa)`` checks every table's dtype, size, index
    range and value range, so no table can make the kernel read or write out of bounds or
    overflow. One Engine runs one simulation: do not call ``run`` from two threads at once.
    """

    cdef nsc_engine e
    cdef dict _arrays
    cdef readonly int64_t n_cores, n_in, n_out, tick, inter_chip, n_remote
    cdef readonly object counters, profile, remote
    cdef readonly str isa

    def __init__(self, dict tables, int64_t n_cores, int64_t n_in, int64_t n_out,
                 str isa="auto"):
        if n_cores < 1:
            raise ValueError("an Engine needs at least one core")
        if n_cores >= 1 << 20:
            raise ValueError("an Engine runs at most 2**20 - 1 cores")
        if isa != "auto" and isa not in ISAS:
            raise ValueError(f"isa must be 'auto' or one of {ISAS}, got {isa!r}")
        if isa != "auto" and isa not in available_isas():
            raise ValueError(f"this CPU (or build) cannot run the {isa} kernel")
        self.isa = ISAS[nsc_cpu_isa()] if isa == "auto" else isa
        self.n_cores, self.n_in, self.n_out = n_cores, n_in, n_out
        self._arrays = {}
        head = tables["head"]
        if (not isinstance(head, np.ndarray) or head.dtype != np.int32
                or head.shape != (n_cores * 16,)):
            raise ValueError("table head: expected n_cores * 16 int32")
        need = needed_tables(head[0::16])
        for name, (dtype, per_core) in TABLES.items():
            arr = tables[name]
            if not isinstance(arr, np.ndarray) or arr.dtype != np.dtype(dtype):
                raise ValueError(f"table {name}: expected a {dtype} numpy array")
            if not arr.flags.c_contiguous:
                raise ValueError(f"table {name}: not C-contiguous")
            size = n_cores * per_core if per_core is not None else arr.size
            if name in OPTIONAL and name not in need:
                size = arr.size if arr.size in (0, size) else size
            if arr.size != size:
                raise ValueError(f"table {name}: {arr.size} elements, need {size}")
            self._arrays[name] = arr
        self._check_indices()
        a = self._arrays
        routed = int(a["box_ptr"][n_cores])
        self._arrays["v"] = _aligned_zeros(n_cores * 256, np.int32)
        self._arrays["ring"] = _aligned_zeros(n_cores * 64, np.uint64)
        self._arrays["quiet"] = _aligned_zeros(n_cores, np.uint8)
        self._arrays["outbox"] = _aligned_zeros(max(2 * routed, 1), np.uint32)
        pal = a["pal"]
        self._arrays["pald"] = _aligned_zeros(pal.size // NSC_PAL_RAW * NSC_PAL_ROWS, np.int32)
        if pal.size:
            nsc_derive_palette(<const int32_t *>_addr(pal),
                               <int32_t *>_addr(self._arrays["pald"]), n_cores)
        e = &self.e
        e.n_cores = n_cores
        e.head = <const void *>_addr(a["head"])
        e.xbar = <const uint64_t *>_addr(a["xbar"])
        e.atype = <const uint64_t *>_addr(a["atype"])
        e.wdet = <const int16_t *>_addr(a["wdet"])
        e.wfull = <const int16_t *>_addr(a["wfull"])
        e.smask = <const uint64_t *>_addr(a["smask"])
        e.pidx = <const uint8_t *>_addr(a["pidx"])
        e.pald = <const int32_t *>_addr(a["pald"])
        e.leak = <const int16_t *>_addr(a["leak"])
        e.alpha = <const int32_t *>_addr(a["alpha"])
        e.beta = <const int32_t *>_addr(a["beta"])
        e.reset = <const int32_t *>_addr(a["reset"])
        e.nflags = <const uint8_t *>_addr(a["nflags"])
        e.tm = <const uint8_t *>_addr(a["tm"])
        e.route = <const int64_t *>_addr(a["route"])
        e.in_ptr = <const int64_t *>_addr(a["in_ptr"])
        e.in_line = <const int32_t *>_addr(a["in_line"])
        e.in_axon = <const int32_t *>_addr(a["in_axon"])
        e.out_ptr = <const int64_t *>_addr(a["out_ptr"])
        e.out_pos = <const int32_t *>_addr(a["out_pos"])
        e.out_line = <const int32_t *>_addr(a["out_line"])
        e.box_ptr = <const int64_t *>_addr(a["box_ptr"])
        e.rbox_ptr = <const int64_t *>_addr(a["rbox_ptr"])
        e.n_remote = self.n_remote = int(a["rbox_ptr"][n_cores])
        self._arrays["nrbox"] = np.zeros(NSC_MAX_THREADS, np.int64)
        e.nrbox = <int64_t *>_addr(self._arrays["nrbox"])
        e.rbox = NULL
        e.v = <int32_t *>_addr(a["v"])
        e.ring = <uint64_t *>_addr(a["ring"])
        e.quiet = <uint8_t *>_addr(a["quiet"])
        e.outbox = <uint32_t *>_addr(a["outbox"])
        e.isa = ISAS.index(self.isa)
        self.reset()

    def _check_indices(self):
        a, c = self._arrays, self.n_cores
        head = a["head"].reshape(c, 16)
        for name, (lo, hi) in VALUE_RANGES.items():
            values = [a[name]]
            if name in HEAD_FIELDS:
                values.append(head[:, HEAD_FIELDS.index(name)])
            if name == "wdet":
                values.append(head[:, HEAD_FIELDS.index("w0"):HEAD_FIELDS.index("w3") + 1])
            if any(v.size and (v.min() < lo or v.max() > hi) for v in values):
                raise ValueError(f"table {name}: values outside {lo}..{hi}")
        if a["pal"].size:  # rows: PALETTE_RAW, each of PALETTE_SIZE entries
            pal = a["pal"].reshape(c, NSC_PAL_RAW, NSC_PAL)
            limits = {"w0": VALUE_RANGES["wdet"], "w1": VALUE_RANGES["wdet"],
                      "w2": VALUE_RANGES["wdet"], "w3": VALUE_RANGES["wdet"]}
            for row, name in enumerate(PALETTE_RAW):
                lo, hi = limits.get(name, VALUE_RANGES.get(name, (0, 0)))
                if pal[:, row].min() < lo or pal[:, row].max() > hi:
                    raise ValueError(f"table pal: {name} values outside {lo}..{hi}")
            if ((pal[:, PALETTE_RAW.index("nflags")] >> 1) & 3 > 2).any():
                raise ValueError("table pal: reset mode above 2")
        if a["pidx"].size and a["pidx"].max() >= NSC_PAL:
            raise ValueError(f"table pidx: palette index above {NSC_PAL - 1}")
        modes = [(head[:, HEAD_FIELDS.index("nflags")] >> 1) & 3, (a["nflags"] >> 1) & 3]
        if any(m.size and (m > 2).any() for m in modes):
            raise ValueError("table head/nflags: reset mode above 2")
        route = a["route"]
        routed = route >= 0
        dest, delay = route[routed] >> ROUTE_SHIFT, route[routed] & 15
        rptr = a["rbox_ptr"]
        if rptr.size != c + 1 or rptr[0] != 0:
            raise ValueError("table rbox_ptr: not a prefix count over the cores")
        n_remote = int(rptr[c])
        remote = route < -1
        line = (-2 - route[remote]) >> ROUTE_SHIFT
        if (line >= n_remote).any() or (dest >= c * ROUTE_CORE_STRIDE).any() or (
                delay == 0).any():
            raise ValueError("table route: destination or delay out of range")
        expected = np.concatenate([[0], np.cumsum(remote.reshape(c, 256).sum(axis=1))])
        if not np.array_equal(rptr, expected):
            raise ValueError("table rbox_ptr: not the prefix count of remote-line neurons")
        if n_remote and np.unique(line).size != n_remote:
            raise ValueError("table route: remote lines must be 0..n-1, each once")
        for ptr, idx, lines, hi in (
            ("in_ptr", ("in_line", "in_axon"), self.n_in, 256),
            ("out_ptr", ("out_line", "out_pos"), self.n_out, 256),
        ):
            p = a[ptr]
            n = a[idx[0]].size
            if p.size != c + 1 or p[0] != 0 or p[c] != n or (np.diff(p) < 0).any():
                raise ValueError(f"table {ptr}: not a CSR pointer over {n} entries")
            if a[idx[1]].size != n:
                raise ValueError(f"table {idx[1]}: {a[idx[1]].size} entries, need {n}")
            if n and (a[idx[0]].min() < 0 or a[idx[0]].max() >= lines):
                raise ValueError(f"table {idx[0]}: line out of range 0..{lines - 1}")
            if n and (a[idx[1]].min() < 0 or a[idx[1]].max() >= hi):
                raise ValueError(f"table {idx[1]}: index out of range 0..{hi - 1}")
        expected = np.concatenate([[0], np.cumsum(routed.reshape(c, 256).sum(axis=1))])
        if a["box_ptr"].size != c + 1 or not np.array_equal(a["box_ptr"], expected):
            raise ValueError("table box_ptr: not the prefix count of routed neurons")

    def reset(self):
        """Back to the initial state: V = v0, empty axon rings, tick 0, counters 0."""
        self._arrays["v"][:] = self._arrays["v0"]
        self._arrays["ring"][:] = 0
        self._arrays["quiet"][:] = 0
        self.tick = 0
        self.counters = np.zeros(4, np.int64)
        self.inter_chip = 0
        self.profile = np.zeros(4, np.float64)
        self.remote = np.zeros(0, np.int64)

    @property
    def v(self):
        """A copy of the potentials, (C, 256) in neuron order."""
        return self._arrays["v"].reshape(self.n_cores, 256)[:, POSITION]

    @property
    def ring(self):
        """The live axon rings (not a copy), uint64 (C * 64,): word ``(c * 16 + (t & 15)) * 4
        + (a >> 6)``, bit ``a & 63``, is axon ``a`` of core ``c`` at tick ``t``. Between
        ``run`` calls every routed spike is in it; a caller may OR in spikes due at ticks
        ``tick .. tick + 15`` (``nsc_runtime.distributed`` delivers spikes of other ranks)."""
        return self._arrays["ring"]

    def restore(self, v, ring, int64_t tick):
        """Resume from a saved state: potentials ``v`` (C, 256) in neuron order, the rings
        (as :attr:`ring` gave them) and the tick; counters restart at 0."""
        a = self._arrays
        a["v"][:] = np.asarray(v, np.int32).reshape(self.n_cores, 256)[:, NEURON].reshape(-1)
        a["ring"][:] = np.asarray(ring, np.uint64).reshape(-1)
        a["quiet"][:] = 0
        self.tick = tick
        self.counters = np.zeros(4, np.int64)
        self.inter_chip = 0

    def inject(self, pos):
        """OR spikes into the axon rings (as another rank's spikes arrive): ``pos`` int64,
        ``core * 4096 + slot * 256 + axon`` with slot = due tick & 15 (a due tick within
        ``tick .. tick + 15``); duplicates are merged as the kernel merges them."""
        cdef int64_t[::1] p = np.ascontiguousarray(pos, np.int64)
        if p.shape[0] == 0:
            return
        arr = np.asarray(p)
        if arr.min() < 0 or arr.max() >= self.n_cores * ROUTE_CORE_STRIDE:
            raise ValueError("inject: position out of range")
        with nogil:
            nsc_inject(&self.e, &p[0], p.shape[0])

    def run(self, inputs, outputs, int threads=1, bint profile=False):
        """Advance ``len(inputs)`` ticks. ``inputs``: uint8 (n, n_in) 0/1; ``outputs``: uint8
        (n, n_out), written with the output lines' spikes. Returns the threads used.

        The spikes of remote-line neurons (route ``-2 - (i << ROUTE_SHIFT | flag | hops << 4)``)
        are not delivered: they are listed in :attr:`remote`, int64 ``tick * n_remote + i``
        (absolute tick; in no particular order), replaced by each call, and counted as
        cross-core spikes with their hops. :attr:`inter_chip` counts the routed spikes whose
        route is flagged ``ROUTE_INTER_CHIP`` (remote lines included)."""
        if not isinstance(inputs, np.ndarray) or inputs.dtype != np.uint8:
            raise ValueError("inputs must be a uint8 numpy array")
        if not isinstance(outputs, np.ndarray) or outputs.dtype != np.uint8:
            raise ValueError("outputs must be a uint8 numpy array")
        if inputs.ndim != 2 or inputs.shape[1] != self.n_in or not inputs.flags.c_contiguous:
            raise ValueError(f"inputs must be C-contiguous (n, {self.n_in})")
        n = inputs.shape[0]
        if (outputs.ndim != 2 or outputs.shape != (n, self.n_out)
                or not outputs.flags.c_contiguous or not outputs.flags.writeable):
            raise ValueError(f"outputs must be writeable C-contiguous ({n}, {self.n_out})")
        cdef int64_t[::1] ctr = np.zeros(5, np.int64)
        cdef double[::1] prof = np.zeros(4, np.float64)
        cdef const uint8_t *inp = <const uint8_t *>_addr(inputs)
        cdef uint8_t *out = <uint8_t *>_addr(outputs)
        cdef double *pp = &prof[0] if profile else NULL
        cdef int used
        cdef int64_t t0 = self.tick
        cdef int64_t n_ticks = n
        rbox = np.empty(max(n * self.n_remote, 1), np.int64)
        self.e.rbox = <int64_t *>_addr(rbox)
        nrbox = self._arrays["nrbox"]
        nrbox[:] = 0
        with nogil:
            used = nsc_run(&self.e, t0, n_ticks, inp, self.n_in, out, self.n_out, threads,
                           &ctr[0], pp)
        self.e.rbox = NULL
        self.tick += n
        got = np.asarray(ctr)
        self.counters += got[:4]
        self.inter_chip += int(got[4])
        self.profile += np.asarray(prof)
        if self.n_remote:
            rptr = self._arrays["rbox_ptr"]
            parts = []
            for tid in range(used):
                start = n * int(rptr[self.n_cores * tid // used])
                parts.append(rbox[start:start + int(nrbox[tid])])
            self.remote = np.concatenate(parts)
        return used
