// A GPU load of a given length, for recording NVML traces and for the GPU tests.
// Usage: busy_gpu SECONDS   (default 1.0). Keeps every SM busy with
// independent FMA chains, one ~10 ms kernel after another, then prints PASS.
#include <chrono>
#include <cstdio>
#include <cstdlib>

__global__ void burn(float* sink, int iterations) {
    float a = threadIdx.x * 1e-3f, b = blockIdx.x * 1e-3f, c = 0.5f, d = 0.25f;
    for (int i = 0; i < iterations; ++i) {
        a = fmaf(a, 0.999f, 0.001f);
        b = fmaf(b, 0.998f, 0.002f);
        c = fmaf(c, 0.997f, 0.003f);
        d = fmaf(d, 0.996f, 0.004f);
    }
    if (a + b + c + d == 12345.0f) sink[0] = a;  // keeps the loop from being optimised away
}

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int device = 0, sms = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    float* sink = nullptr;
    if (cudaMalloc(&sink, sizeof(float)) != cudaSuccess) {
        printf("FAIL: cudaMalloc\n");
        return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    long launches = 0;
    double elapsed = 0.0;
    do {
        burn<<<sms * 8, 256>>>(sink, 200000);
        cudaError_t status = cudaDeviceSynchronize();
        if (status != cudaSuccess) {
            printf("FAIL: %s\n", cudaGetErrorString(status));
            return 1;
        }
        ++launches;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < seconds);
    cudaFree(sink);
    // the launch count varies from run to run: on a timing line, which output checks skip
    printf("time: %.3f s, %ld launches\n", elapsed, launches);
    printf("PASS\n");
    return 0;
}
