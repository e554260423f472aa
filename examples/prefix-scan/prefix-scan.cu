// prefix-scan: inclusive prefix sum of N 32-bit unsigned integers, REPEAT times.
//
// out[i] = in[0] + in[1] + ... + in[i] (modulo 2^32), inputs 0..15 from a
// fixed-seed LCG. Each repeat scans the array afresh.
//
// Usage: prefix-scan [N=134217728] [REPEAT=15]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - Hillis-Steele scan over the whole array in global memory: log2(N) kernel
//    launches per scan, each reading and writing all N elements (O(N log N) work
//    where O(N) would do) and no shared memory;
//  - between passes the result is copied back over the input with cudaMemcpy
//    (device to device) instead of swapping pointers;
//  - the input is copied again from pageable host memory, and the result copied
//    back, on every repeat.
// Self-check: the result is compared in full with a host scan.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CHECK(call)                                                               \
  do {                                                                            \
    cudaError_t err_ = (call);                                                    \
    if (err_ != cudaSuccess) {                                                    \
      fprintf(stderr, "CUDA error: %s at %s:%d\n", cudaGetErrorString(err_),      \
              __FILE__, __LINE__);                                                \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

static uint32_t lcg_state = 555u;
static uint32_t lcg_next() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

__global__ void scan_pass(const uint32_t *in, uint32_t *out, long long n, long long offset) {
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = i >= offset ? in[i] + in[i - offset] : in[i];
}

int main(int argc, char **argv) {
  const long long n = argc > 1 ? atoll(argv[1]) : 134217728LL;
  const int repeat = argc > 2 ? atoi(argv[2]) : 15;
  if (n < 1 || repeat < 1) {
    fprintf(stderr, "usage: %s [N>=1] [REPEAT>=1]\n", argv[0]);
    return 2;
  }
  const size_t bytes = (size_t)n * sizeof(uint32_t);
  printf("prefix-scan: N=%lld repeat=%d\n", n, repeat);
  uint32_t *in = (uint32_t *)malloc(bytes);
  uint32_t *out = (uint32_t *)malloc(bytes);
  if (!in || !out) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (long long i = 0; i < n; i++) in[i] = (lcg_next() >> 16) & 15u;

  uint32_t *d_a, *d_b;
  CHECK(cudaMalloc(&d_a, bytes));
  CHECK(cudaMalloc(&d_b, bytes));
  const int threads = 256;
  const unsigned int blocks = (unsigned int)((n + threads - 1) / threads);
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeat; r++) {
    CHECK(cudaMemcpy(d_a, in, bytes, cudaMemcpyHostToDevice));
    for (long long offset = 1; offset < n; offset *= 2) {
      scan_pass<<<blocks, threads>>>(d_a, d_b, n, offset);
      CHECK(cudaGetLastError());
      CHECK(cudaMemcpy(d_a, d_b, bytes, cudaMemcpyDeviceToDevice));
    }
    CHECK(cudaMemcpy(out, d_a, bytes, cudaMemcpyDeviceToHost));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  long long bad = 0;
  uint32_t running = 0;
  uint64_t checksum = 0;
  for (long long i = 0; i < n; i++) {
    running += in[i];
    if (out[i] != running) bad++;
    checksum += (uint64_t)out[i] * (uint64_t)(i % 101 + 1);
  }
  printf("total %u middle %u checksum %llu\n", out[n - 1], out[n / 2],
         (unsigned long long)checksum);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%lld prefix sums differ from the host's\n", bad);
  CHECK(cudaFree(d_a));
  CHECK(cudaFree(d_b));
  free(in);
  free(out);
  return bad == 0 ? 0 : 1;
}
