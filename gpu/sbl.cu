// The AM M-step of KroneckerSBL (sparserec.sbl.kronecker._am_step) as ONE kernel launch.
//
// Each pass updates the factors in turn, g_i[k] = share_i * sum over the entries n of the
// tensor d with n_i = k of d[n] * prod_{j != i} inv_j[n_j], where inv_j = 1 / max(g_j, tiny)
// on the active entries (mask) and 0 on pruned ones, and stops at the first pass whose
// relative change of the Kronecker product (from factor inner products) is below tol.
// A pass is O(I N) work with a few syncs, so on a GPU the per-launch cost of the
// element-wise/GEMV formulation (six launches per factor per pass, a host read every few
// passes) is what a fit pays; here the whole loop runs in one block of one launch, the
// tensor read from L2 at every pass (for the tensors this is used on, a few MiB).
//
// Layout: d is C-ordered with shape dims[0..n_factors); the factors, masks, shares and
// scratch vectors are stored end to end (factor i at offsets[i]..offsets[i+1]).
// Summation order is fixed (no atomics): the result is deterministic.

#define MAX_FACTORS 8
#define TINY 2.2250738585072014e-308

__device__ double block_sum(double v, double* red) {
    // the sum over the block (valid in thread 0); red: 32 doubles of shared memory
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // red may still be read by a previous call
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = 0.0;
    if (warp == 0) {
        if (lane < (int)(blockDim.x >> 5)) v = red[lane];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    }
    return v;
}

// prod_{j in [lo, hi)} inv_j[digit_j(t)]: the mixed-radix digits of t over dims[lo..hi)
__device__ double weight(long long t, int lo, int hi, const long long* dims,
                         const long long* offsets, const double* inv) {
    double w = 1.0;
    for (int j = hi - 1; j >= lo; --j) {
        const long long q = t / dims[j];
        w *= inv[offsets[j] + (t - q * dims[j])];
        t = q;
    }
    return w;
}

// a new factor entry and its inverse (0 on pruned entries)
__device__ void set(double* g, double* inv, const bool* mask, long long k, double v) {
    g[k] = v;
    inv[k] = mask[k] ? 1.0 / fmax(v, TINY) : 0.0;
}

extern "C" __global__ void am_step(
    const double* __restrict__ d, const long long* __restrict__ dims_in, int n_factors,
    const bool* __restrict__ mask, const double* __restrict__ share,
    double* g, double* prev, double* inv, double* before, double* after,
    double tol, int max_pass, int* n_pass) {
    __shared__ long long dims[MAX_FACTORS], offsets[MAX_FACTORS + 1];
    __shared__ double red[32];
    __shared__ double products[3];  // ||new||^2, ||old||^2, <new, old> of the Kronecker products
    __shared__ int stop;
    const int tid = threadIdx.x, n_threads = blockDim.x;
    const int lane = tid & 31, warp = tid >> 5, n_warps = n_threads >> 5;
    if (tid == 0) {
        offsets[0] = 0;
        for (int i = 0; i < n_factors; ++i) {
            dims[i] = dims_in[i];
            offsets[i + 1] = offsets[i] + dims[i];
        }
    }
    __syncthreads();
    const long long total = offsets[n_factors];
    int pass = 0;
    while (pass < max_pass) {
        for (long long k = tid; k < total; k += n_threads) {
            prev[k] = g[k];
            set(g, inv, mask, k, g[k]);
        }
        __syncthreads();
        for (int i = 0; i < n_factors; ++i) {
            // d as (A, n, B): the axes before factor i, its own, the axes after it
            long long A = 1, B = 1;
            for (int j = 0; j < i; ++j) A *= dims[j];
            for (int j = i + 1; j < n_factors; ++j) B *= dims[j];
            const long long n = dims[i], off = offsets[i];
            for (long long t = tid; t < A; t += n_threads)
                before[t] = weight(t, 0, i, dims, offsets, inv);
            for (long long t = tid; t < B; t += n_threads)
                after[t] = weight(t, i + 1, n_factors, dims, offsets, inv);
            __syncthreads();
            if (B >= 32) {  // a warp per entry k: the lanes read rows of B contiguous values
                for (long long k = warp; k < n; k += n_warps) {
                    double s = 0.0;
                    for (long long a = 0; a < A; ++a) {
                        const double* row = d + (a * n + k) * B;
                        double r = 0.0;
                        for (long long b = lane; b < B; b += 32) r += row[b] * after[b];
                        s += r * before[a];
                    }
                    for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
                    if (lane == 0) set(g, inv, mask, off + k, s * share[i]);
                }
            } else {  // a thread per entry k: neighbouring threads read neighbouring values
                for (long long k = tid; k < n; k += n_threads) {
                    double s = 0.0;
                    for (long long a = 0; a < A; ++a) {
                        const double* row = d + (a * n + k) * B;
                        double r = 0.0;
                        for (long long b = 0; b < B; ++b) r += row[b] * after[b];
                        s += r * before[a];
                    }
                    set(g, inv, mask, off + k, s * share[i]);
                }
            }
            __syncthreads();
        }
        if (tid == 0) products[0] = products[1] = products[2] = 1.0;
        for (int i = 0; i < n_factors; ++i) {
            double nn = 0.0, oo = 0.0, no = 0.0;
            for (long long k = offsets[i] + tid; k < offsets[i + 1]; k += n_threads) {
                nn += g[k] * g[k];
                oo += prev[k] * prev[k];
                no += g[k] * prev[k];
            }
            nn = block_sum(nn, red);
            oo = block_sum(oo, red);
            no = block_sum(no, red);
            if (tid == 0) {
                products[0] *= nn;
                products[1] *= oo;
                products[2] *= no;
            }
        }
        ++pass;
        if (tid == 0) {
            const double change = sqrt(fmax(products[0] + products[1] - 2.0 * products[2], 0.0)
                                       / products[1]);
            stop = change < tol;
        }
        __syncthreads();
        if (stop) break;
    }
    if (tid == 0) *n_pass = pass;
}
