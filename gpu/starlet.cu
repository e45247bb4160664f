// Starlet (B3-spline a trous) smoothing along one image axis, for sparserec.deconv.starlet
// (loaded by cupy.RawModule; T = float or double). One thread per output pixel:
//   out[i, c] = sum_m tap[m] * x[mirror(pos + m * step)]   (m = -2..2, along `axis`)
// with the B3 taps [1, 4, 6, 4, 1] / 16 and the half-sample mirror boundary
// (d c b a | a b c d | d c b a), exactly sparserec.deconv.starlet._mirror_index.

__device__ __forceinline__ int mirror_index(int q, const int n)
{
    const int period = 2 * n;
    q %= period;
    if (q < 0) q += period;
    return q >= n ? period - 1 - q : q;
}

template <typename T>
__global__ void atrous_axis(const T* __restrict__ x, T* __restrict__ out, const int n0,
                            const int n1, const int step, const int axis)
{
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)n0 * n1) return;
    const int i = (int)(idx / n1);
    const int c = (int)(idx - (long long)i * n1);
    const T taps[5] = {T(0.0625), T(0.25), T(0.375), T(0.25), T(0.0625)};
    T acc = T(0);
    if (axis == 1) {
        const T* row = x + (long long)i * n1;
        #pragma unroll
        for (int m = 0; m < 5; ++m) acc += taps[m] * row[mirror_index(c + (m - 2) * step, n1)];
    } else {
        #pragma unroll
        for (int m = 0; m < 5; ++m) {
            acc += taps[m] * x[(long long)mirror_index(i + (m - 2) * step, n0) * n1 + c];
        }
    }
    out[idx] = acc;
}
