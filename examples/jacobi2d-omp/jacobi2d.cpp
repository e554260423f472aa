// jacobi2d-omp: the Laplace equation on an N x N grid, solved by Jacobi iteration,
// on the CPU with OpenMP (the CPU counterpart of examples/jacobi2d).
//
// Each sweep replaces every interior point by the mean of its four neighbours.
// The top edge is held at 1, the other edges at 0, the interior starts from
// pseudo-random values (fixed-seed LCG). Every CHECK_EVERY sweeps the residual
// max |unew - u| is printed.
//
// Usage: jacobi2d-omp [N=2048] [ITERS=500] [CHECK_EVERY=50]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - the sweep runs column by column (j outer, i inner): consecutive iterations
//    touch addresses N floats apart, so caches and vector units are wasted;
//  - schedule(dynamic, 1) hands out one column at a time, and neighbouring
//    columns land on different cores;
//  - after every sweep the new grid is copied over the old one instead of
//    swapping the two pointers;
//  - the residual is computed by a single thread.
// Self-check: the last sweep is recomputed serially from the grid before it, and
// the boundary values must be unchanged.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static uint32_t lcg_state = 12345u;
static float lcg_uniform() {  // in [0, 1)
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return (lcg_state >> 8) * (1.0f / 16777216.0f);
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 2048;
  const int iters = argc > 2 ? atoi(argv[2]) : 500;
  const int check_every = argc > 3 ? atoi(argv[3]) : 50;
  if (n < 3 || iters < 1 || check_every < 1) {
    fprintf(stderr, "usage: %s [N>=3] [ITERS>=1] [CHECK_EVERY>=1]\n", argv[0]);
    return 2;
  }
  const size_t cells = (size_t)n * n;
  printf("jacobi2d-omp: N=%d iterations=%d check_every=%d\n", n, iters, check_every);
  float *initial = (float *)malloc(cells * sizeof(float));
  float *u = (float *)malloc(cells * sizeof(float));
  float *unew = (float *)malloc(cells * sizeof(float));
  if (!initial || !u || !unew) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      bool edge = i == 0 || j == 0 || i == n - 1 || j == n - 1;
      initial[(size_t)i * n + j] = i == 0 ? 1.0f : (edge ? 0.0f : lcg_uniform());
    }
  memcpy(u, initial, cells * sizeof(float));
  memcpy(unew, initial, cells * sizeof(float));

  auto start = std::chrono::steady_clock::now();
  for (int it = 1; it <= iters; it++) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int j = 1; j < n - 1; j++)
      for (int i = 1; i < n - 1; i++)
        unew[(size_t)i * n + j] = 0.25f * (u[(size_t)(i - 1) * n + j] + u[(size_t)(i + 1) * n + j] +
                                           u[(size_t)i * n + j - 1] + u[(size_t)i * n + j + 1]);
    if (it % check_every == 0 || it == iters) {
      float residual = 0.0f;
      for (size_t c = 0; c < cells; c++) residual = fmaxf(residual, fabsf(unew[c] - u[c]));
      printf("iteration %d residual %.6e\n", it, residual);
    }
    if (it < iters) {
#pragma omp parallel for
      for (size_t c = 0; c < cells; c++) u[c] = unew[c];
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // u holds the grid before the last sweep, unew the grid after it.
  size_t bad = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      size_t c = (size_t)i * n + j;
      float expect = initial[c];  // boundary: unchanged
      if (i > 0 && j > 0 && i < n - 1 && j < n - 1)
        expect = 0.25f * (u[c - n] + u[c + n] + u[c - 1] + u[c + 1]);
      if (fabsf(unew[c] - expect) > 1e-5f * fmaxf(1.0f, fabsf(expect))) bad++;
    }
  double sum = 0.0, weighted = 0.0;
  for (size_t c = 0; c < cells; c++) {
    sum += unew[c];
    weighted += unew[c] * (double)(c % 1000 + 1);
  }
  printf("checksum %.8e weighted %.8e centre %.6e\n", sum, weighted,
         unew[(size_t)(n / 2) * n + n / 2]);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%zu cells differ from the serial last sweep\n", bad);
  free(initial);
  free(u);
  free(unew);
  return bad == 0 ? 0 : 1;
}
