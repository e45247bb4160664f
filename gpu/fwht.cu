// Fast Walsh-Hadamard transform butterflies for sparserec (loaded by cupy.RawModule from
// sparserec/wht/_cuda.py; T = float or double). The data are a flat array whose length is
// a multiple of every tile, in place. A transform of 2**n values is a sequence of passes,
// each doing the butterflies of a range of index bits (see sparserec.wht._cuda.fwht_plan):
//
//  * fwht_shared: bits [0, log_block): each thread block loads 2**log_block contiguous
//    values into shared memory, runs those stages there and writes them back once;
//  * fwht_strided: bits [lo, lo + log_rows): each thread block loads a tile of
//    2**log_rows "rows" 2**lo apart, each row 2**log_cols contiguous values (coalesced),
//    runs the stages along the rows in shared memory and writes the tile back.
//
// Butterfly pair p of a stage with half-distance h = 2**st touches positions
// i = ((p >> st) << (st + 1)) | (p & (h - 1)) and i + h. The last pass multiplies by scale.

template <typename T>
__global__ void fwht_shared(T* __restrict__ data, const int log_block, const T scale)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* s = reinterpret_cast<T*>(smem_raw);
    const int block = 1 << log_block;
    const long long base = (long long)blockIdx.x << log_block;
    for (int i = threadIdx.x; i < block; i += blockDim.x) {
        s[i] = data[base + i];
    }
    __syncthreads();
    const int half = block >> 1;
    for (int st = 0; st < log_block; ++st) {
        const int h = 1 << st;
        for (int p = threadIdx.x; p < half; p += blockDim.x) {
            const int i = ((p >> st) << (st + 1)) | (p & (h - 1));
            const T a = s[i];
            const T b = s[i + h];
            s[i] = a + b;
            s[i + h] = a - b;
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < block; i += blockDim.x) {
        data[base + i] = s[i] * scale;
    }
}

template <typename T>
__global__ void fwht_strided(T* __restrict__ data, const int lo, const int log_rows,
                             const int log_cols, const T scale)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* s = reinterpret_cast<T*>(smem_raw);
    const int cols = 1 << log_cols;
    const int rows = 1 << log_rows;
    const long long stride = 1LL << lo;
    const long long low_tiles = stride >> log_cols;  // tiles side by side within 2**lo
    const long long tile = blockIdx.x;
    const long long hi = tile / low_tiles;
    const long long lb = tile - hi * low_tiles;
    const long long base = (hi << (lo + log_rows)) + (lb << log_cols);
    const int j = threadIdx.x;  // column: contiguous in memory
    for (int k = threadIdx.y; k < rows; k += blockDim.y) {
        s[k * cols + j] = data[base + k * stride + j];
    }
    __syncthreads();
    const int half = rows >> 1;
    for (int st = 0; st < log_rows; ++st) {
        const int h = 1 << st;
        for (int p = threadIdx.y; p < half; p += blockDim.y) {
            const int k = ((p >> st) << (st + 1)) | (p & (h - 1));
            const T a = s[k * cols + j];
            const T b = s[(k + h) * cols + j];
            s[k * cols + j] = a + b;
            s[(k + h) * cols + j] = a - b;
        }
        __syncthreads();
    }
    for (int k = threadIdx.y; k < rows; k += blockDim.y) {
        data[base + k * stride + j] = s[k * cols + j] * scale;
    }
}
