// Human-readable numbers for the terminal report.
#pragma once

#include <cstdint>
#include <string>

namespace leakhound::report {

// Binary units with one decimal: "512 B", "1.0 KiB", "12.3 MiB", "1.5 GiB".
std::string human_bytes(double bytes);

// Like human_bytes but without a trailing ".0": "64 KiB", "1.5 MiB" (for
// settings such as the sampling rate, which are usually round).
std::string human_bytes_compact(double bytes);

// Signed rate: "+1.0 MiB/s", "-512 B/s", "+0 B/s".
std::string human_rate(double bytes_per_s);

// Thousands separated: 1234567 -> "1,234,567".
std::string group_thousands(uint64_t n);

// A confidence in [0, 1] as a percentage with one decimal, rounded down so
// that 0.99996 reads "99.9%" rather than an overclaiming "100.0%".
std::string percent(double fraction);

// "850 ms", "30.0 s", "2.5 min", "1.2 h".
std::string human_duration(double seconds);
// A time to come, coarse: "3h40m", "6m20s", "45s", "2d4h".
std::string human_eta(double seconds);

}  // namespace leakhound::report
