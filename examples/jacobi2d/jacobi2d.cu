// jacobi2d: the Laplace equation on an N x N grid, solved by Jacobi iteration.
//
// Each sweep replaces every interior point by the mean of its four neighbours:
//   unew[i][j] = 0.25 * (u[i-1][j] + u[i+1][j] + u[i][j-1] + u[i][j+1])
// The top edge is held at 1, the other edges at 0, the interior starts from
// pseudo-random values (fixed-seed LCG). Every CHECK_EVERY sweeps the residual
// max |unew - u| is printed.
//
// Usage: jacobi2d [N=4096] [ITERS=2000] [CHECK_EVERY=50]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - threadIdx.x walks down a column (i), so neighbouring threads of a warp touch
//    addresses N floats apart: uncoalesced loads and stores;
//  - no shared memory: every neighbour value is re-read from global memory;
//  - after every sweep the new grid is copied over the old one (cudaMemcpy
//    device-to-device) instead of swapping the two pointers;
//  - the residual is computed on the host: both grids are copied back through
//    pageable host memory every CHECK_EVERY sweeps.
// Self-check: the last sweep is recomputed on the host from the grid before it,
// and the boundary values must be unchanged.
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

static uint32_t lcg_state = 12345u;
static float lcg_uniform() {  // in [0, 1)
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return (lcg_state >> 8) * (1.0f / 16777216.0f);
}

__global__ void sweep(const float *u, float *unew, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;  // row
  int j = blockIdx.y * blockDim.y + threadIdx.y;  // column
  if (i < 1 || j < 1 || i >= n - 1 || j >= n - 1) return;
  unew[(size_t)i * n + j] = 0.25f * (u[(size_t)(i - 1) * n + j] + u[(size_t)(i + 1) * n + j] +
                                     u[(size_t)i * n + j - 1] + u[(size_t)i * n + j + 1]);
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 4096;
  const int iters = argc > 2 ? atoi(argv[2]) : 2000;
  const int check_every = argc > 3 ? atoi(argv[3]) : 50;
  if (n < 3 || iters < 1 || check_every < 1) {
    fprintf(stderr, "usage: %s [N>=3] [ITERS>=1] [CHECK_EVERY>=1]\n", argv[0]);
    return 2;
  }
  const size_t cells = (size_t)n * n;
  const size_t bytes = cells * sizeof(float);
  printf("jacobi2d: N=%d iterations=%d check_every=%d\n", n, iters, check_every);

  float *h_u = (float *)malloc(bytes);
  float *h_old = (float *)malloc(bytes);
  float *h_new = (float *)malloc(bytes);
  if (!h_u || !h_old || !h_new) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      bool edge = i == 0 || j == 0 || i == n - 1 || j == n - 1;
      h_u[(size_t)i * n + j] = i == 0 ? 1.0f : (edge ? 0.0f : lcg_uniform());
    }

  float *d_u, *d_unew;
  CHECK(cudaMalloc(&d_u, bytes));
  CHECK(cudaMalloc(&d_unew, bytes));
  CHECK(cudaMemcpy(d_u, h_u, bytes, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_unew, h_u, bytes, cudaMemcpyHostToDevice));

  dim3 block(32, 4);
  dim3 grid((n + block.x - 1) / block.x, (n + block.y - 1) / block.y);
  auto start = std::chrono::steady_clock::now();
  for (int it = 1; it <= iters; it++) {
    sweep<<<grid, block>>>(d_u, d_unew, n);
    CHECK(cudaGetLastError());
    if (it % check_every == 0 || it == iters) {
      CHECK(cudaMemcpy(h_old, d_u, bytes, cudaMemcpyDeviceToHost));
      CHECK(cudaMemcpy(h_new, d_unew, bytes, cudaMemcpyDeviceToHost));
      float residual = 0.0f;
      for (size_t c = 0; c < cells; c++) residual = fmaxf(residual, fabsf(h_new[c] - h_old[c]));
      printf("iteration %d residual %.6e\n", it, residual);
    }
    if (it < iters) CHECK(cudaMemcpy(d_u, d_unew, bytes, cudaMemcpyDeviceToDevice));
  }
  CHECK(cudaDeviceSynchronize());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // h_old holds the grid before the last sweep, h_new the grid after it.
  size_t bad = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      size_t c = (size_t)i * n + j;
      float expect = h_u[c];  // boundary: unchanged
      if (i > 0 && j > 0 && i < n - 1 && j < n - 1)
        expect = 0.25f * (h_old[c - n] + h_old[c + n] + h_old[c - 1] + h_old[c + 1]);
      if (fabsf(h_new[c] - expect) > 1e-5f * fmaxf(1.0f, fabsf(expect))) bad++;
    }
  double sum = 0.0, weighted = 0.0;
  for (size_t c = 0; c < cells; c++) {
    sum += h_new[c];
    weighted += h_new[c] * (double)(c % 1000 + 1);
  }
  printf("checksum %.8e weighted %.8e centre %.6e\n", sum, weighted,
         h_new[(size_t)(n / 2) * n + n / 2]);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%zu cells differ from the host's last sweep\n", bad);

  CHECK(cudaFree(d_u));
  CHECK(cudaFree(d_unew));
  free(h_u);
  free(h_old);
  free(h_new);
  return bad == 0 ? 0 : 1;
}
