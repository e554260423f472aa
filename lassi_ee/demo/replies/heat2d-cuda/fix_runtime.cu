// heat2d: explicit 2D heat diffusion on an n x n plate whose conductivity varies in space.
// Usage: heat2d [n] [steps]. Prints a checksum of the final temperatures and PASS.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#define CHECK(call)                                                              \
  do {                                                                           \
    cudaError_t status = (call);                                                 \
    if (status != cudaSuccess) {                                                 \
      std::fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(status), \
                   __FILE__, __LINE__);                                          \
      std::printf("FAIL\n");                                                     \
      std::exit(1);                                                              \
    }                                                                            \
  } while (0)

// Conductivity of every interior cell, computed once (it does not change over time).
__global__ void init_conductivity(double* k, int n) {
  const double pi = 3.141592653589793;
  const int j = blockIdx.x * blockDim.x + threadIdx.x;  // column: consecutive threads, consecutive cells
  const int i = blockIdx.y * blockDim.y + threadIdx.y;  // row
  if (i < 1 || i >= n - 1 || j < 1 || j >= n - 1) return;
  const double x = static_cast<double>(j) / n;
  const double y = static_cast<double>(i) / n;
  k[static_cast<size_t>(i) * n + j] = 0.05 + 0.15 * sin(pi * x) * sin(pi * y);
}

__global__ void diffuse(const double* u, double* next, const double* k, int n) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;  // column: a warp reads one row segment
  const int i = blockIdx.y * blockDim.y + threadIdx.y;  // row
  if (i < 1 || i >= n - 1 || j < 1 || j >= n - 1) return;
  const size_t c = static_cast<size_t>(i) * n + j;
  next[c] = u[c] + k[c] * (u[c - n] + u[c + n] + u[c - 1] + u[c + 1] - 4.0 * u[c]);
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 4096;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 1000;
  const size_t cells = static_cast<size_t>(n) * n;
  std::vector<double> u(cells, 0.0);

  // a hot square in the middle of a cold plate
  for (int i = n / 4; i < 3 * n / 4; ++i)
    for (int j = n / 4; j < 3 * n / 4; ++j) u[static_cast<size_t>(i) * n + j] = 100.0;

  double* d_u = nullptr;
  double* d_next = nullptr;
  double* d_k = nullptr;
  CHECK(cudaMalloc(&d_u, cells * sizeof(double)));
  CHECK(cudaMalloc(&d_next, cells * sizeof(double)));
  CHECK(cudaMalloc(&d_k, cells * sizeof(double)));
  CHECK(cudaMemcpy(d_u, u.data(), cells * sizeof(double), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_next, u.data(), cells * sizeof(double), cudaMemcpyHostToDevice));

  // bigger blocks, within the limit of 1024 threads per block
  const dim3 block(32, 32);
  const dim3 grid((n + block.x - 1) / block.x, (n + block.y - 1) / block.y);
  // the conductivity never changes: compute it once, not at every step
  init_conductivity<<<grid, block>>>(d_k, n);
  CHECK(cudaGetLastError());
  for (int step = 0; step < steps; ++step) {
    diffuse<<<grid, block>>>(d_u, d_next, d_k, n);
    std::swap(d_u, d_next);
  }
  CHECK(cudaGetLastError());
  CHECK(cudaMemcpy(u.data(), d_u, cells * sizeof(double), cudaMemcpyDeviceToHost));
  CHECK(cudaFree(d_u));
  CHECK(cudaFree(d_next));
  CHECK(cudaFree(d_k));

  double checksum = 0.0;
  for (double value : u) checksum += value;
  const size_t probe = static_cast<size_t>(n / 4) * n + n / 4;
  std::printf("grid %d x %d, %d steps\n", n, n, steps);
  std::printf("checksum %.6e\n", checksum);
  std::printf("corner of the hot square %.6e\n", u[probe]);
  std::printf("PASS\n");
  return 0;
}
