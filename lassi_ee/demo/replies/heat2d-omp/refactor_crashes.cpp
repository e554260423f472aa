// heat2d: explicit 2D heat diffusion on an n x n plate whose conductivity varies in space.
// Usage: heat2d [n] [steps]. Prints a checksum of the final temperatures and PASS.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

// Conductivity of the interior cells only, (n - 2) x (n - 2), computed once.
static std::vector<double> make_coefficients(int n) {
  const double pi = 3.141592653589793;
  const int m = n - 2;
  std::vector<double> k(static_cast<size_t>(m) * m);
  for (int i = 1; i < n - 1; ++i) {
    const double y = static_cast<double>(i) / n;
    for (int j = 1; j < n - 1; ++j) {
      const double x = static_cast<double>(j) / n;
      k.at(static_cast<size_t>(i) * m + j) = 0.05 + 0.15 * std::sin(pi * x) * std::sin(pi * y);
    }
  }
  return k;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 640;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 200;
  std::vector<double> u(static_cast<size_t>(n) * n, 0.0);
  std::vector<double> next(u.size(), 0.0);

  // a hot square in the middle of a cold plate
  for (int i = n / 4; i < 3 * n / 4; ++i)
    for (int j = n / 4; j < 3 * n / 4; ++j) u[static_cast<size_t>(i) * n + j] = 100.0;

  // the conductivity never changes: compute it once, for the interior cells only
  const std::vector<double> k = make_coefficients(n);

  for (int step = 0; step < steps; ++step) {
    // rows outermost: the inner loop walks contiguous memory
#pragma omp parallel for
    for (int i = 1; i < n - 1; ++i) {
      for (int j = 1; j < n - 1; ++j) {
        const size_t c = static_cast<size_t>(i) * n + j;
        next[c] = u[c] + k[static_cast<size_t>(i - 1) * (n - 2) + (j - 1)] * (u[c - n] + u[c + n] + u[c - 1] + u[c + 1] - 4.0 * u[c]);
      }
    }
    std::swap(u, next);
  }

  double checksum = 0.0;
  for (double value : u) checksum += value;
  const size_t probe = static_cast<size_t>(n / 4) * n + n / 4;
  std::printf("grid %d x %d, %d steps\n", n, n, steps);
  std::printf("checksum %.6e\n", checksum);
  std::printf("corner of the hot square %.6e\n", u[probe]);
  std::printf("PASS\n");
  return 0;
}
