// heat2d: explicit 2D heat diffusion on an n x n plate whose conductivity varies in space.
// Usage: heat2d [n] [steps]. Prints a checksum of the final temperatures and PASS.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

namespace {

const double kPi = 3.141592653589793;

// Conductivity at cell (i, j): higher in the middle of the plate.
inline double conductivity(int i, int j, int n) {
  const double x = static_cast<double>(j) / n;
  const double y = static_cast<double>(i) / n;
  return 0.05 + 0.15 * std::sin(kPi * x) * std::sin(kPi * y);
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 640;
  const int steps = argc > 2 ? std::atoi(argv[2]) : 200;
  const size_t cells = static_cast<size_t>(n) * n;
  std::vector<double> u(cells, 0.0);
  std::vector<double> next(cells, 0.0);

  // a hot square in the middle of a cold plate
  for (int i = n / 4; i < 3 * n / 4; ++i)
    for (int j = n / 4; j < 3 * n / 4; ++j) u[static_cast<size_t>(i) * n + j] = 100.0;

  for (int step = 0; step < steps; ++step) {
#pragma omp parallel for schedule(static)
    for (int j = 1; j < n - 1; ++j) {
      for (int i = 1; i < n - 1; ++i) {
        const size_t c = static_cast<size_t>(i) * n + j;
        const double laplacian = u[c - n] + u[c + n] + u[c - 1] + u[c + 1] - 4.0 * u[c];
        next[c] = u[c] + conductivity(i, j, n) * laplacian;
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
