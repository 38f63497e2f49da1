// Sliding-window kernels for minidl.kernels.cupy_gpu: im2col, col2im, max-pool forward/backward.
// Same layouts and results as minidl/functional/windows.py. Each thread handles one element of
// the output, in a grid-stride loop; flat indices are 64-bit (a batch of columns can pass 2^31).
// Templates over T = float or double, instantiated by name from Python.

template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() {
    return __longlong_as_double(0xfff0000000000000ULL);
}

#define GRID_STRIDE_LOOP(idx, total) \
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < (total); \
         idx += (long long)blockDim.x * gridDim.x)

// x (N, C, H, W) -> cols (N, C*KH*KW, OH*OW): one thread per column entry, zero in the padding.
template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ cols, long long total,
                       int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                       int DH, int DW, int OH, int OW) {
    GRID_STRIDE_LOOP(idx, total) {
        long long t = idx;
        const int ox = (int)(t % OW); t /= OW;
        const int oy = (int)(t % OH); t /= OH;
        const int j = (int)(t % KW); t /= KW;
        const int i = (int)(t % KH); t /= KH;          // t is now the plane n * C + c
        const int y = oy * SH - PH + i * DH;
        const int xx = ox * SW - PW + j * DW;
        T v = 0;
        if (y >= 0 && y < H && xx >= 0 && xx < W) v = x[(t * H + y) * W + xx];
        cols[idx] = v;
    }
}

// cols (N, C*KH*KW, OH*OW) -> dx (N, C, H, W): each pixel gathers the column entries that copied
// it, in the reference's (i, j) order, so no two threads write one address (no atomics).
template <typename T>
__global__ void col2im(const T* __restrict__ cols, T* __restrict__ dx, long long total,
                       int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                       int DH, int DW, int OH, int OW) {
    GRID_STRIDE_LOOP(idx, total) {
        long long t = idx;
        const int xx = (int)(t % W); t /= W;
        const int y = (int)(t % H); t /= H;            // t is now the plane n * C + c
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
                acc += cols[(((t * KH + i) * KW + j) * OH + oy) * OW + ox];
            }
        }
        dx[idx] = acc;
    }
}

// x (N, C, H, W) -> out, argmax (N, C, OH, OW). argmax is the flat index y * W + x into the
// plane; as NumPy's argmax over the -inf-padded window, the first maximum in row-major order
// wins, a NaN beats every number, and window offset 0 keeps the win while all seen are -inf.
template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ out,
                                   long long* __restrict__ argmax, long long total,
                                   int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                                   int OH, int OW) {
    GRID_STRIDE_LOOP(idx, total) {
        long long t = idx;
        const int ox = (int)(t % OW); t /= OW;
        const int oy = (int)(t % OH); t /= OH;
        const T* plane = x + t * H * W;
        const int y0 = oy * SH - PH, x0 = ox * SW - PW;
        T best = neg_inf<T>();
        long long at = (long long)y0 * W + x0;
        for (int y = max(y0, 0); y < min(y0 + KH, H); ++y) {
            for (int xx = max(x0, 0); xx < min(x0 + KW, W); ++xx) {
                const T v = plane[(long long)y * W + xx];
                if (v > best || (v != v && best == best)) {
                    best = v;
                    at = (long long)y * W + xx;
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
template <typename T>
__global__ void max_pool2d_backward(const T* __restrict__ dout,
                                    const long long* __restrict__ argmax, T* __restrict__ dx,
                                    long long total, long long plane_size, long long out_size) {
    GRID_STRIDE_LOOP(idx, total) {
        const long long k = argmax[idx];
        if (k >= 0 && k < plane_size) atomicAdd(dx + (idx / out_size) * plane_size + k, dout[idx]);
    }
}
