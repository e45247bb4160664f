// Fast Walsh-Hadamard transform butterflies for sparserec (loaded by cupy.RawModule from
// sparserec/wht/_cuda.py; T = float or double). The data are a flat array of whole rows,
// transformed in place. A transform of 2**n values is a sequence of passes, each doing
// the butterflies of a range of index bits on tiles of 2**LT values (LT = 13 for float,
// 12 for double: 32 KiB), one read and one write of the data per pass (see
// sparserec.wht._cuda.fwht_plan).
//
// Tile element e (LT bits) lives at base + (e >> lc) * 2**lo + (e & (2**lc - 1)): rows of
// 2**lc contiguous values, 2**lo apart (the first pass: one contiguous tile, lc = LT).
// Only the index bits [blo, bhi) of e get butterflies. Each of the 256 threads holds 8
// 16-byte vectors (32 floats or 16 doubles) in registers, so a pass needs no shared-memory
// butterflies at all: with e's bits split as [vector | lane (5) | warp (3) | slot (3)],
// the vector and slot bits are done in registers, the lane bits by warp shuffles, then
// one transposition through shared memory swaps the warp and slot bits and the warp bits
// are done in registers too. Every global and shared access is a warp-wide run of 32
// vectors (no bank conflicts, coalesced). Hadamard stages commute, so their order does
// not change the result.

template <typename T> struct VecOf;
template <> struct VecOf<float> { typedef float4 type; };
template <> struct VecOf<double> { typedef double2 type; };

template <typename T, int N>
__device__ __forceinline__ void butterfly_bit(T (&v)[N], const int q)
{
    // stage on bit q of the register index
#pragma unroll
    for (int t = 0; t < N; ++t) {
        if (!(t & (1 << q))) {
            const T a = v[t];
            const T c = v[t | (1 << q)];
            v[t] = a + c;
            v[t | (1 << q)] = a - c;
        }
    }
}

template <typename T>
__global__ void __launch_bounds__(256) fwht_pass(T* __restrict__ data, const long long total,
                                                 const int lo, const int lc, const int blo,
                                                 const int bhi, const T scale)
{
    constexpr int V = 16 / sizeof(T);
    constexpr int LV = V == 4 ? 2 : 1;
    constexpr int N = 8 * V;  // values per thread
    using Vec = typename VecOf<T>::type;
    __shared__ Vec s[256 * 8];

    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int lt = LV + 11;
    const long long low_tiles = (1LL << lo) >> lc;  // tiles side by side within 2**lo
    const long long tile = blockIdx.x;
    const long long hi = tile / low_tiles;
    const long long base = (hi << (lo + lt - lc)) + ((tile - hi * low_tiles) << lc);
    const int cols = (1 << lc) - 1;
    const long long stride = 1LL << lo;

    T v[N];
    // mapping A: register t = slot * V + j holds e = j | lane << LV | warp << (LV+5) | slot << (LV+8)
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        const int e = (lane << LV) | (warp << (LV + 5)) | (k << (LV + 8));
        const long long at = base + (long long)(e >> lc) * stride + (e & cols);
        Vec w;
        if (at < total) {
            w = *reinterpret_cast<const Vec*>(data + at);
        } else {
            w = Vec();  // a partial last tile of whole rows: its tail is never stored
        }
        const T* u = reinterpret_cast<const T*>(&w);
#pragma unroll
        for (int j = 0; j < V; ++j) v[k * V + j] = u[j];
    }
    // register bits: q < LV is e bit q, q >= LV is e bit q + 8
#pragma unroll
    for (int q = 0; q < LV + 3; ++q) {
        const int b = q < LV ? q : q + 8;
        if (b >= blo && b < bhi) butterfly_bit(v, q);
    }
    // lane bits: e bits LV .. LV+4
#pragma unroll
    for (int k = 0; k < 5; ++k) {
        const int b = LV + k;
        if (b >= blo && b < bhi) {
            const bool upper = lane & (1 << k);
#pragma unroll
            for (int t = 0; t < N; ++t) {
                const T o = __shfl_xor_sync(0xffffffffu, v[t], 1 << k);
                v[t] = upper ? o - v[t] : v[t] + o;
            }
        }
    }
    // transpose: slot k of warp w -> slot w of warp k (vector index lane | warp << 5 | slot << 8)
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        Vec w;
        T* u = reinterpret_cast<T*>(&w);
#pragma unroll
        for (int j = 0; j < V; ++j) u[j] = v[k * V + j];
        s[lane | (warp << 5) | (k << 8)] = w;
    }
    __syncthreads();
    // mapping B: register t = k * V + j holds e = j | lane << LV | k << (LV+5) | warp << (LV+8)
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        const Vec w = s[lane | (k << 5) | (warp << 8)];
        const T* u = reinterpret_cast<const T*>(&w);
#pragma unroll
        for (int j = 0; j < V; ++j) v[k * V + j] = u[j];
    }
    // the warp bits, now register bits LV .. LV+2 (e bits LV+5 .. LV+7)
#pragma unroll
    for (int q = LV; q < LV + 3; ++q) {
        const int b = q + 5;
        if (b >= blo && b < bhi) butterfly_bit(v, q);
    }
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        const int e = (lane << LV) | (k << (LV + 5)) | (warp << (LV + 8));
        const long long at = base + (long long)(e >> lc) * stride + (e & cols);
        if (at < total) {
            Vec w;
            T* u = reinterpret_cast<T*>(&w);
#pragma unroll
            for (int j = 0; j < V; ++j) u[j] = v[k * V + j] * scale;
            *reinterpret_cast<Vec*>(data + at) = w;
        }
    }
}
