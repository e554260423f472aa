// spmv-csr-omp: power iteration with a sparse matrix in CSR format, on the CPU
// with OpenMP (the CPU counterpart of examples/spmv-csr).
//
// Repeats x <- A x / ||A x|| and reports ||A x||, which converges to the largest
// eigenvalue of A. A has ROWS rows with 1..2*AVG-1 non-zeros each (on average
// AVG): a diagonal entry plus pseudo-random columns (fixed-seed LCG), all values
// positive, so the iteration converges to one positive vector.
//
// Usage: spmv-csr-omp [ROWS=1048576] [AVG=16] [ITERS=60]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - schedule(dynamic, 1) hands out one row at a time, so the threads spend
//    much of their time fighting over the loop counter;
//  - the norm and the scaling of x are computed by a single thread;
//  - y is freshly allocated and freed on every iteration.
// Self-check: after the last iteration, A x is recomputed serially (double
// precision) for every 64th row.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

static uint32_t lcg_state = 8675309u;
static uint32_t lcg_next() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

int main(int argc, char **argv) {
  const int rows = argc > 1 ? atoi(argv[1]) : 1048576;
  const int avg = argc > 2 ? atoi(argv[2]) : 16;
  const int iters = argc > 3 ? atoi(argv[3]) : 60;
  if (rows < 1 || avg < 1 || iters < 1) {
    fprintf(stderr, "usage: %s [ROWS>=1] [AVG>=1] [ITERS>=1]\n", argv[0]);
    return 2;
  }
  long long *row_start = (long long *)malloc(((size_t)rows + 1) * sizeof(long long));
  if (!row_start) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  row_start[0] = 0;
  for (int r = 0; r < rows; r++) row_start[r + 1] = row_start[r] + 1 + lcg_next() % (2 * avg - 1);
  const long long nnz = row_start[rows];
  int *cols = (int *)malloc(nnz * sizeof(int));
  float *vals = (float *)malloc(nnz * sizeof(float));
  float *x = (float *)malloc((size_t)rows * sizeof(float));
  float *y = nullptr;
  if (!cols || !vals || !x) {
    fprintf(stderr, "out of memory\n");
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
  printf("spmv-csr-omp: rows=%d nonzeros=%lld iterations=%d\n", rows, nnz, iters);

  double norm = 0.0;
  auto start = std::chrono::steady_clock::now();
  for (int it = 0; it < iters; it++) {
    free(y);
    y = (float *)malloc((size_t)rows * sizeof(float));
    if (!y) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int r = 0; r < rows; r++) {
      float sum = 0.0f;
      for (long long k = row_start[r]; k < row_start[r + 1]; k++) sum += vals[k] * x[cols[k]];
      y[r] = sum;
    }
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
  if (bad) fprintf(stderr, "%d sampled rows of A x differ from the serial ones\n", bad);
  free(row_start), free(cols), free(vals), free(x), free(y);
  return bad == 0 ? 0 : 1;
}
