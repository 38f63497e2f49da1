// Sliding-window kernels for minidl.kernels.cupy_gpu: im2col, col2im, max-pool forward/backward.
// Same layouts and results as minidl/functional/windows.py. Each thread handles one element of
// the output, in a grid-stride loop. Templates over T = float or double and over the index type
// I: int wherever every flat index fits (32-bit division and remainder are several times cheaper
// on the GPU), long long for batches of columns past 2^31 elements; Python picks the instance.

template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
    return __longlong_as_double(0xfff0000000000000ULL);
}

#define GRID_STRIDE_LOOP(idx, total) \
    for (I idx = (I)blockIdx.x * blockDim.x + threadIdx.x; idx < (total); \
         idx += (I)blockDim.x * gridDim.x)

// x (N, C, H, W) -> cols (C*KH*KW, N*OH*OW): one thread per column entry, zero in the padding.
// Neighbouring threads write neighbouring entries and read neighbouring pixels.
template <typename T, typename I>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ cols, I total, int N, int C,
                       int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                       int DH, int DW, int OH, int OW) {
    GRID_STRIDE_LOOP(idx, total) {
        I t = idx;
        const int ox = (int)(t % OW); t /= OW;
        const int oy = (int)(t % OH); t /= OH;
        const int n = (int)(t % N); t /= N;
        const int j = (int)(t % KW); t /= KW;
        const int i = (int)(t % KH); t /= KH;          // t is now the channel c
        const int y = oy * SH - PH + i * DH;
        const int xx = ox * SW - PW + j * DW;
        T v = 0;
        if (y >= 0 && y < H && xx >= 0 && xx < W) v = x[(((I)n * C + t) * H + y) * W + xx];
        cols[idx] = v;
    }
}

// cols (C*KH*KW, N*OH*OW) -> dx (N, C, H, W): each pixel gathers the column entries that copied
// it, in the reference's (i, j) order, so no two threads write one address (no atomics).
template <typename T, typename I>
__global__ void col2im(const T* __restrict__ cols, T* __restrict__ dx, I total, int N, int C,
                       int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                       int DH, int DW, int OH, int OW) {
    GRID_STRIDE_LOOP(idx, total) {
        I t = idx;
        const int xx = (int)(t % W); t /= W;
        const int y = (int)(t % H); t /= H;
        const int c = (int)(t % C);
        const int n = (int)(t / C);
        T acc = 0;
        for (int i = 0; i < KH; ++i) {
            const int ty = y + PH - i * DH;             // = oy * SH for the output row oy
            if (ty < 0) break;                          // ty only falls as i grows
            if (ty % SH != 0 || ty / SH >= OH) continue;
            const int oy = ty / SH;
            for (int j = 0; j < KW; ++j) {
                const int tx = xx + PW - j * DW;
                if (tx < 0) break;
                if (tx % SW != 0 || tx / SW >= OW) continue;
                const int ox = tx / SW;
                acc += cols[((((I)c * KH + i) * KW + j) * N + n) * OH * OW + (I)oy * OW + ox];
            }
        }
        dx[idx] = acc;
    }
}

// x (N, C, H, W) -> out, argmax (N, C, OH, OW). argmax is the flat index y * W + x into the
// plane; as NumPy's argmax over the -inf-padded window, the first maximum in row-major order
// wins, a NaN beats every number, and window offset 0 keeps the win while all seen are -inf.
template <typename T, typename I>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ out,
                                   long long* __restrict__ argmax, I total,
                                   int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                                   int OH, int OW) {
    GRID_STRIDE_LOOP(idx, total) {
        I t = idx;
        const int ox = (int)(t % OW); t /= OW;
        const int oy = (int)(t % OH); t /= OH;
        const T* plane = x + t * H * W;
        const int y0 = oy * SH - PH, x0 = ox * SW - PW;
        T best = neg_inf<T>();
        I at = (I)y0 * W + x0;
        for (int y = max(y0, 0); y < min(y0 + KH, H); ++y) {
            for (int xx = max(x0, 0); xx < min(x0 + KW, W); ++xx) {
                const T v = plane[(I)y * W + xx];
                if (v > best || (v != v && best == best)) {
                    best = v;
                    at = (I)y * W + xx;
                }
            }
        }
        out[idx] = best;
        argmax[idx] = at;
    }
}

// dx (N, C, H, W), zeroed by the caller: dx[plane, argmax] += dout for every output. Windows that
// overlap send several gradients to one pixel, hence atomicAdd. Entries outside the plane (which
// max_pool2d_forward never writes) are skipped rather than corrupting memory.
template <typename T, typename I>
__global__ void max_pool2d_backward(const T* __restrict__ dout,
                                    const long long* __restrict__ argmax, T* __restrict__ dx,
                                    I total, I plane_size, I out_size) {
    GRID_STRIDE_LOOP(idx, total) {
        const long long k = argmax[idx];
        if (k >= 0 && k < plane_size) atomicAdd(dx + (idx / out_size) * plane_size + k, dout[idx]);
    }
}
