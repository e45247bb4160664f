// Fast Walsh-Hadamard transform butterflies for sparserec (loaded by cupy.RawModule from
// sparserec/wht/_cuda.py; T = float or double). The data are a flat array whose length is
// a multiple of every tile, in place. A transform of 2**n values is a sequence of passes,
// each doing the butterflies of a range of index bits (see sparserec.wht._cuda.fwht_plan).
//
// fwht_tile does one pass: each thread block loads a tile of 2**log_rows "rows" 2**lo
// apart, each row 2**log_cols contiguous values (coalesced; the first pass of a plan is
// one contiguous row-tile, lo = log_cols = 0), into shared memory, transforms it along
// the rows and writes it back once. Inside the tile the row bits are done in rounds of
// RB bits: a thread gathers the 2**RB values of one butterfly group into registers, runs
// the RB stages there and scatters them back, so a pass costs ceil(log_rows / RB) shared
// memory round trips and barriers instead of log_rows. Hadamard stages commute, so the
// order of the bits does not change the result. Shared memory is padded by one slot every
// 2**pad_shift values to spread the strided group accesses over the banks.

template <typename T> struct VecOf;
template <> struct VecOf<float> { typedef float4 type; };
template <> struct VecOf<double> { typedef double2 type; };

template <typename T, int RB>
__global__ void __launch_bounds__(256) fwht_tile(T* __restrict__ data, const int lo,
                                                 const int log_rows, const int log_cols,
                                                 const int pad_shift, const int vectorise,
                                                 const T scale)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* s = reinterpret_cast<T*>(smem_raw);
    const int log_n = log_rows + log_cols;
    const int n = 1 << log_n;
    const int cols_mask = (1 << log_cols) - 1;
    const long long stride = 1LL << lo;
    const long long low_tiles = stride >> log_cols;  // tiles side by side within 2**lo
    const long long tile = blockIdx.x;
    const long long hi = tile / low_tiles;
    const long long lb = tile - hi * low_tiles;
    const long long base = (hi << (lo + log_rows)) + (lb << log_cols);

    // global memory in 16-byte vectors of V values when the row segments allow (more bytes
    // in flight per thread: the passes are bound by memory latency, not by arithmetic)
    constexpr int V = 16 / sizeof(T);
    using Vec = typename VecOf<T>::type;
    // contiguous V-runs: the first pass (lo = 0: one contiguous row) or rows of >= V values
    const bool vec = vectorise && n >= V && (lo == 0 || (1 << log_cols) >= V);
    if (vec) {
#pragma unroll 4
        for (int e = threadIdx.x * V; e < n; e += blockDim.x * V) {
            const Vec w = *reinterpret_cast<const Vec*>(
                data + base + (long long)(e >> log_cols) * stride + (e & cols_mask));
            const T* u = reinterpret_cast<const T*>(&w);
#pragma unroll
            for (int i = 0; i < V; ++i) s[(e + i) + ((e + i) >> pad_shift)] = u[i];
        }
    } else {
        for (int e = threadIdx.x; e < n; e += blockDim.x) {
            s[e + (e >> pad_shift)] =
                data[base + (long long)(e >> log_cols) * stride + (e & cols_mask)];
        }
    }
    __syncthreads();

    for (int b = 0; b < log_rows; b += RB) {
        const int rb = min(RB, log_rows - b);
        const int m = 1 << rb;
        const int groups = n >> rb;
        const int low_mask = (1 << b) - 1;
        for (int q = threadIdx.x; q < groups; q += blockDim.x) {
            const int j = q & cols_mask;
            const int r = q >> log_cols;
            const int k0 = ((r >> b) << (b + rb)) | (r & low_mask);
            T v[1 << RB];
            int at[1 << RB];
#pragma unroll
            for (int t = 0; t < (1 << RB); ++t) {
                if (t < m) {
                    const int e = ((k0 + (t << b)) << log_cols) + j;
                    at[t] = e + (e >> pad_shift);
                    v[t] = s[at[t]];
                }
            }
#pragma unroll
            for (int h = 1; h < (1 << RB); h <<= 1) {
                if (h < m) {
#pragma unroll
                    for (int t = 0; t < (1 << RB); ++t) {
                        if (!(t & h) && t + h < m) {
                            const T a = v[t];
                            const T c = v[t + h];
                            v[t] = a + c;
                            v[t + h] = a - c;
                        }
                    }
                }
            }
#pragma unroll
            for (int t = 0; t < (1 << RB); ++t) {
                if (t < m) s[at[t]] = v[t];
            }
        }
        __syncthreads();
    }

    if (vec) {
#pragma unroll 4
        for (int e = threadIdx.x * V; e < n; e += blockDim.x * V) {
            Vec w;
            T* u = reinterpret_cast<T*>(&w);
#pragma unroll
            for (int i = 0; i < V; ++i) u[i] = s[(e + i) + ((e + i) >> pad_shift)] * scale;
            *reinterpret_cast<Vec*>(
                data + base + (long long)(e >> log_cols) * stride + (e & cols_mask)) = w;
        }
    } else {
        for (int e = threadIdx.x; e < n; e += blockDim.x) {
            data[base + (long long)(e >> log_cols) * stride + (e & cols_mask)] =
                s[e + (e >> pad_shift)] * scale;
        }
    }
}
