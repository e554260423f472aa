// segment-sum: segmented sum reduction.
//
// N floats in [0, 1) are split into consecutive segments whose lengths are
// pseudo-random between 1 and 2*AVG-1; each repeat computes the sum of every
// segment. Inputs come from a fixed-seed LCG, so every run prints the same sums.
//
// Usage: segment-sum [N=33554432] [AVG=256] [REPEAT=100]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - one thread per segment walks its whole segment alone: neighbouring threads
//    read addresses a segment apart (uncoalesced), and a long segment keeps its
//    warp busy while the others idle;
//  - device buffers are allocated and freed inside the repeat loop;
//  - the values and the segment offsets are copied again from pageable host
//    memory on every repeat although they never change;
//  - small 64-thread blocks.
// Self-check: every segment sum is compared with a double-precision host sum.
#include <chrono>
#include <cmath>
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

static uint32_t lcg_state = 2024u;
static uint32_t lcg_next() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

__global__ void segment_sums(const float *values, const int *offsets, float *sums, int segments) {
  int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= segments) return;
  float sum = 0.0f;
  for (int k = offsets[s]; k < offsets[s + 1]; k++) sum += values[k];
  sums[s] = sum;
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 33554432;
  const int avg = argc > 2 ? atoi(argv[2]) : 256;
  const int repeat = argc > 3 ? atoi(argv[3]) : 100;
  if (n < 1 || avg < 1 || repeat < 1) {
    fprintf(stderr, "usage: %s [N>=1] [AVG>=1] [REPEAT>=1]\n", argv[0]);
    return 2;
  }

  float *values = (float *)malloc((size_t)n * sizeof(float));
  int *offsets = (int *)malloc(((size_t)n + 1) * sizeof(int));  // at most n segments
  if (!values || !offsets) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (int i = 0; i < n; i++) values[i] = (lcg_next() >> 8) * (1.0f / 16777216.0f);
  int segments = 0;
  offsets[0] = 0;
  while (offsets[segments] < n) {
    int length = 1 + (int)(lcg_next() % (uint32_t)(2 * avg - 1));
    int end = offsets[segments] + length;
    offsets[++segments] = end < n ? end : n;
  }
  printf("segment-sum: N=%d segments=%d repeat=%d\n", n, segments, repeat);

  float *sums = (float *)malloc((size_t)segments * sizeof(float));
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeat; r++) {
    float *d_values, *d_sums;
    int *d_offsets;
    CHECK(cudaMalloc(&d_values, (size_t)n * sizeof(float)));
    CHECK(cudaMalloc(&d_offsets, ((size_t)segments + 1) * sizeof(int)));
    CHECK(cudaMalloc(&d_sums, (size_t)segments * sizeof(float)));
    CHECK(cudaMemcpy(d_values, values, (size_t)n * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d_offsets, offsets, ((size_t)segments + 1) * sizeof(int),
                     cudaMemcpyHostToDevice));
    segment_sums<<<(segments + 63) / 64, 64>>>(d_values, d_offsets, d_sums, segments);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(sums, d_sums, (size_t)segments * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaFree(d_values));
    CHECK(cudaFree(d_offsets));
    CHECK(cudaFree(d_sums));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int bad = 0;
  double total = 0.0, largest = 0.0;
  for (int s = 0; s < segments; s++) {
    double expect = 0.0;
    for (int k = offsets[s]; k < offsets[s + 1]; k++) expect += values[k];
    if (fabs(sums[s] - expect) > 1e-4 * fmax(1.0, expect)) bad++;
    total += sums[s];
    largest = fmax(largest, (double)sums[s]);
  }
  printf("total %.8e largest segment %.6e first %.6e last %.6e\n", total, largest, sums[0],
         sums[segments - 1]);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d segment sums differ from the host's\n", bad);
  free(values);
  free(offsets);
  free(sums);
  return bad == 0 ? 0 : 1;
}
