// block-entropy: Shannon entropy (bits per byte) of every BLOCK-byte block of a
// byte stream, and of the whole stream.
//
// The stream is MB mebibytes of pseudo-random bytes (fixed-seed LCG); each block
// draws from its own alphabet size (1..256 symbols), so block entropies range
// from 0 to 8 bits. Each repeat recomputes every block's histogram and entropy
// and the histogram of the whole stream.
//
// Usage: block-entropy [MB=256] [BLOCK=4096] [REPEAT=30]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - one thread per block builds a 256-bin histogram in a private array (local
//    memory) byte by byte; neighbouring threads read bytes BLOCK apart
//    (uncoalesced, one byte per load);
//  - every byte also increments the whole-stream histogram with a global
//    atomicAdd on one of only 256 counters (heavy contention);
//  - the whole stream is copied again from pageable host memory on every repeat;
//  - small 64-thread blocks.
// Self-check: every 64th block's entropy is recomputed on the host, and the
// whole-stream histogram must equal the one the host counted while generating.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

static uint32_t lcg_state = 99u;
static uint32_t lcg_next() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

__global__ void block_entropy(const unsigned char *data, long long size, int block_size,
                              int blocks, float *entropy, unsigned long long *stream_histogram) {
  int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= blocks) return;
  int counts[256];
  for (int k = 0; k < 256; k++) counts[k] = 0;
  long long begin = (long long)b * block_size;
  long long end = begin + block_size < size ? begin + block_size : size;
  for (long long p = begin; p < end; p++) {
    counts[data[p]]++;
    atomicAdd(&stream_histogram[data[p]], 1ULL);
  }
  float h = 0.0f;
  for (int k = 0; k < 256; k++) {
    if (counts[k] == 0) continue;
    float prob = (float)counts[k] / (float)(end - begin);
    h -= prob * log2f(prob);
  }
  entropy[b] = h;
}

static double entropy_of(const unsigned long long *counts, double total) {
  double h = 0.0;
  for (int k = 0; k < 256; k++)
    if (counts[k]) h -= counts[k] / total * log2(counts[k] / total);
  return h;
}

int main(int argc, char **argv) {
  const int mb = argc > 1 ? atoi(argv[1]) : 256;
  const int block_size = argc > 2 ? atoi(argv[2]) : 4096;
  const int repeat = argc > 3 ? atoi(argv[3]) : 30;
  if (mb < 1 || mb > 4096 || block_size < 1 || repeat < 1) {
    fprintf(stderr, "usage: %s [MB=1..4096] [BLOCK>=1] [REPEAT>=1]\n", argv[0]);
    return 2;
  }
  const long long size = (long long)mb << 20;
  const int blocks = (int)((size + block_size - 1) / block_size);
  printf("block-entropy: bytes=%lld block=%d blocks=%d repeat=%d\n", size, block_size, blocks,
         repeat);

  unsigned char *data = (unsigned char *)malloc(size);
  float *entropy = (float *)malloc((size_t)blocks * sizeof(float));
  unsigned long long expected_histogram[256] = {0}, stream_histogram[256];
  if (!data || !entropy) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (int b = 0; b < blocks; b++) {
    uint32_t alphabet = 1 + lcg_next() % 256u;
    long long end = (long long)(b + 1) * block_size < size ? (long long)(b + 1) * block_size : size;
    for (long long p = (long long)b * block_size; p < end; p++) {
      data[p] = (unsigned char)((lcg_next() >> 16) % alphabet);
      expected_histogram[data[p]]++;
    }
  }

  unsigned char *d_data;
  float *d_entropy;
  unsigned long long *d_histogram;
  CHECK(cudaMalloc(&d_data, size));
  CHECK(cudaMalloc(&d_entropy, (size_t)blocks * sizeof(float)));
  CHECK(cudaMalloc(&d_histogram, 256 * sizeof(unsigned long long)));
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeat; r++) {
    CHECK(cudaMemcpy(d_data, data, size, cudaMemcpyHostToDevice));
    CHECK(cudaMemset(d_histogram, 0, 256 * sizeof(unsigned long long)));
    block_entropy<<<(blocks + 63) / 64, 64>>>(d_data, size, block_size, blocks, d_entropy,
                                               d_histogram);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(entropy, d_entropy, (size_t)blocks * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(stream_histogram, d_histogram, sizeof(stream_histogram),
                     cudaMemcpyDeviceToHost));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int bad = memcmp(stream_histogram, expected_histogram, sizeof(stream_histogram)) != 0;
  for (int b = 0; b < blocks; b += 64) {
    unsigned long long counts[256] = {0};
    long long begin = (long long)b * block_size;
    long long end = begin + block_size < size ? begin + block_size : size;
    for (long long p = begin; p < end; p++) counts[data[p]]++;
    double expect = entropy_of(counts, (double)(end - begin));
    if (fabs(entropy[b] - expect) > 1e-4 * fmax(1.0, expect)) bad++;
  }
  double mean = 0.0, lowest = 8.0, highest = 0.0;
  for (int b = 0; b < blocks; b++) {
    mean += entropy[b];
    lowest = fmin(lowest, (double)entropy[b]);
    highest = fmax(highest, (double)entropy[b]);
  }
  mean /= blocks;
  printf("block entropy mean %.6f lowest %.6f highest %.6f\n", mean, lowest, highest);
  printf("stream entropy %.6f bits per byte\n", entropy_of(stream_histogram, (double)size));
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d checks failed (histogram or sampled block entropies)\n", bad);
  CHECK(cudaFree(d_data));
  CHECK(cudaFree(d_entropy));
  CHECK(cudaFree(d_histogram));
  free(data);
  free(entropy);
  return bad == 0 ? 0 : 1;
}
