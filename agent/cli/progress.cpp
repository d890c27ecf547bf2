#include "cli/progress.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace leakhound::cli {

void ProgressBar::update(double elapsed_s) {
  if (!enabled_ || total_ <= 0) return;
  constexpr int kWidth = 30;
  double frac = std::clamp(elapsed_s / total_, 0.0, 1.0);
  int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\rcollecting [%s] %5.1fs / %.0fs", bar.c_str(), elapsed_s, total_);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace leakhound::cli
