// rotate90: rotate an N x N matrix by 90 degrees clockwise, REPEAT times.
//
// One rotation maps element (i, j) to (j, N-1-i). The matrix holds pseudo-random
// small integers (fixed-seed LCG) stored as floats, so results are exact.
//
// Usage: rotate90 [N=8192] [REPEAT=2001]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - one element per thread and no shared-memory tile: threadIdx.x walks down a
//    column of the input, so the loads of a warp are N floats apart (uncoalesced);
//  - after every rotation the result is copied back over the input with
//    cudaMemcpy (device to device) instead of swapping the two pointers;
//  - pageable host memory for the transfers.
// Self-check: after REPEAT rotations element (i, j) must equal the original
// element that REPEAT % 4 quarter turns bring there; checked at 2^20 positions.
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

static uint32_t lcg_state = 7u;
static uint32_t lcg_next() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

__global__ void rotate(const float *in, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;  // input row
  int j = blockIdx.y * blockDim.y + threadIdx.y;  // input column
  if (i >= n || j >= n) return;
  out[(size_t)j * n + (n - 1 - i)] = in[(size_t)i * n + j];
}

// Where the element now at (i, j) came from after q clockwise quarter turns.
static size_t source_index(int i, int j, int n, int q) {
  switch (q) {
    case 1: return (size_t)(n - 1 - j) * n + i;
    case 2: return (size_t)(n - 1 - i) * n + (n - 1 - j);
    case 3: return (size_t)j * n + (n - 1 - i);
    default: return (size_t)i * n + j;
  }
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 8192;
  const int repeat = argc > 2 ? atoi(argv[2]) : 2001;
  if (n < 1 || repeat < 1) {
    fprintf(stderr, "usage: %s [N>=1] [REPEAT>=1]\n", argv[0]);
    return 2;
  }
  const size_t cells = (size_t)n * n;
  const size_t bytes = cells * sizeof(float);
  printf("rotate90: N=%d rotations=%d\n", n, repeat);

  float *original = (float *)malloc(bytes);
  float *result = (float *)malloc(bytes);
  if (!original || !result) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (size_t c = 0; c < cells; c++) original[c] = (float)(lcg_next() % 1000u);

  float *d_in, *d_out;
  CHECK(cudaMalloc(&d_in, bytes));
  CHECK(cudaMalloc(&d_out, bytes));
  CHECK(cudaMemcpy(d_in, original, bytes, cudaMemcpyHostToDevice));
  dim3 block(32, 8);
  dim3 grid((n + block.x - 1) / block.x, (n + block.y - 1) / block.y);
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeat; r++) {
    rotate<<<grid, block>>>(d_in, d_out, n);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(d_in, d_out, bytes, cudaMemcpyDeviceToDevice));
  }
  CHECK(cudaMemcpy(result, d_in, bytes, cudaMemcpyDeviceToHost));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const int quarter_turns = repeat % 4;
  int bad = 0;
  for (int s = 0; s < (1 << 20); s++) {
    int i = (int)(lcg_next() % (uint32_t)n), j = (int)(lcg_next() % (uint32_t)n);
    if (result[(size_t)i * n + j] != original[source_index(i, j, n, quarter_turns)]) bad++;
  }
  double weighted = 0.0;
  for (size_t c = 0; c < cells; c++) weighted += result[c] * (double)(c % 997 + 1);
  printf("quarter turns %d weighted checksum %.10e corner %.0f\n", quarter_turns, weighted,
         result[0]);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d sampled elements are misplaced\n", bad);
  CHECK(cudaFree(d_in));
  CHECK(cudaFree(d_out));
  free(original);
  free(result);
  return bad == 0 ? 0 : 1;
}
