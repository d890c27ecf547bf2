// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

namespace leakhound::cli {

class ProgressBar {
 public:
  ProgressBar(double total_s, bool enabled) : total_(total_s), enabled_(enabled) {}
  void update(double elapsed_s);
  void finish();  // clears the line

 private:
  double total_;
  bool enabled_;
  bool drawn_ = false;
};

}  // namespace leakhound::cli
