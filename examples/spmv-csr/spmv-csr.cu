// spmv-csr: power iteration with a sparse matrix in CSR format.
//
// Repeats x <- A x / ||A x|| and reports ||A x||, which converges to the largest
// eigenvalue of A. A has ROWS rows with 1..2*AVG-1 non-zeros each (on average
// AVG): a diagonal entry plus pseudo-random columns (fixed-seed LCG), all values
// positive, so the iteration converges to one positive vector.
//
// Usage: spmv-csr [ROWS=4194304] [AVG=16] [ITERS=200]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - scalar CSR: one thread per row, so neighbouring threads read the values and
//    column indices of different rows (uncoalesced) and rows of different
//    lengths leave warps unbalanced;
//  - the norm and the scaling are done on the host: y comes back and x goes up
//    through pageable memory on every iteration;
//  - small 32-thread blocks.
// Self-check: after the last iteration, A x is recomputed on the host (double
// precision) for every 64th row.
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

static uint32_t lcg_state = 8675309u;
static uint32_t lcg_next() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

__global__ void spmv(const long long *row_start, const int *cols, const float *vals,
                     const float *x, float *y, int rows) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float sum = 0.0f;
  for (long long k = row_start[r]; k < row_start[r + 1]; k++) sum += vals[k] * x[cols[k]];
  y[r] = sum;
}

int main(int argc, char **argv) {
  const int rows = argc > 1 ? atoi(argv[1]) : 4194304;
  const int avg = argc > 2 ? atoi(argv[2]) : 16;
  const int iters = argc > 3 ? atoi(argv[3]) : 200;
  if (rows < 1 || avg < 1 || iters < 1) {
    fprintf(stderr, "usage: %s [ROWS>=1] [AVG>=1] [ITERS>=1]\n", argv[0]);
    return 2;
  }
  long long *row_start = (long long *)malloc(((size_t)rows + 1) * sizeof(long long));
  if (!row_start) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  row_start[0] = 0;
  for (int r = 0; r < rows; r++) row_start[r + 1] = row_start[r] + 1 + lcg_next() % (2 * avg - 1);
  const long long nnz = row_start[rows];
  int *cols = (int *)malloc(nnz * sizeof(int));
  float *vals = (float *)malloc(nnz * sizeof(float));
  float *x = (float *)malloc((size_t)rows * sizeof(float));
  float *y = (float *)malloc((size_t)rows * sizeof(float));
  if (!cols || !vals || !x || !y) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (int r = 0; r < rows; r++) {
    cols[row_start[r]] = r;
    vals[row_start[r]] = 1.0f;
    for (long long k = row_start[r] + 1; k < row_start[r + 1]; k++) {
      cols[k] = (int)(lcg_next() % (uint32_t)rows);
      vals[k] = 0.01f + (lcg_next() >> 8) * (1.0f / 16777216.0f);
    }
  }
  for (int r = 0; r < rows; r++) x[r] = 1.0f;
  printf("spmv-csr: rows=%d nonzeros=%lld iterations=%d\n", rows, nnz, iters);

  long long *d_row_start;
  int *d_cols;
  float *d_vals, *d_x, *d_y;
  CHECK(cudaMalloc(&d_row_start, ((size_t)rows + 1) * sizeof(long long)));
  CHECK(cudaMalloc(&d_cols, nnz * sizeof(int)));
  CHECK(cudaMalloc(&d_vals, nnz * sizeof(float)));
  CHECK(cudaMalloc(&d_x, (size_t)rows * sizeof(float)));
  CHECK(cudaMalloc(&d_y, (size_t)rows * sizeof(float)));
  CHECK(cudaMemcpy(d_row_start, row_start, ((size_t)rows + 1) * sizeof(long long),
                   cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_cols, cols, nnz * sizeof(int), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_vals, vals, nnz * sizeof(float), cudaMemcpyHostToDevice));

  double norm = 0.0;
  auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < iters; it++) {
    CHECK(cudaMemcpy(d_x, x, (size_t)rows * sizeof(float), cudaMemcpyHostToDevice));
    spmv<<<(rows + 31) / 32, 32>>>(d_row_start, d_cols, d_vals, d_x, d_y, rows);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(y, d_y, (size_t)rows * sizeof(float), cudaMemcpyDeviceToHost));
    if (it == iters - 1) break;  // keep x and y = A x for the check
    norm = 0.0;
    for (int r = 0; r < rows; r++) norm += (double)y[r] * y[r];
    norm = sqrt(norm);
    for (int r = 0; r < rows; r++) x[r] = (float)(y[r] / norm);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int bad = 0;
  for (int r = 0; r < rows; r += 64) {
    double expect = 0.0;
    for (long long k = row_start[r]; k < row_start[r + 1]; k++) expect += (double)vals[k] * x[cols[k]];
    if (fabs(y[r] - expect) > 1e-4 * fabs(expect) + 1e-12) bad++;
  }
  double last_norm = 0.0, sum = 0.0;
  for (int r = 0; r < rows; r++) last_norm += (double)y[r] * y[r], sum += x[r];
  printf("eigenvalue estimate %.6e\n", sqrt(last_norm));
  printf("previous estimate %.6e\n", norm);
  printf("vector sum %.6e first %.6e last %.6e\n", sum, x[0], x[rows - 1]);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d sampled rows of A x differ from the host's\n", bad);
  CHECK(cudaFree(d_row_start));
  CHECK(cudaFree(d_cols));
  CHECK(cudaFree(d_vals));
  CHECK(cudaFree(d_x));
  CHECK(cudaFree(d_y));
  free(row_start), free(cols), free(vals), free(x), free(y);
  return bad == 0 ? 0 : 1;
}
