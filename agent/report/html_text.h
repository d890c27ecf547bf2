// Text for the HTML report: escaping of strings that come from the target
// (function names, paths: hostile), and numbers as the JSON writer prints them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace leakhound::report {

// Safe in element text and in quoted attribute values. Control characters
// (which a hostile binary may put in a symbol name) become U+FFFD.
std::string html_escape(std::string_view s);

// The shortest text that reads back as the same double (what the JSON report
// holds), for data- attributes a test or a script compares against it.
std::string exact_number(double v);
std::string exact_number(uint64_t v);

enum class Unit { Bytes, Count };
// For people: "12.3 MiB" or "1,234" / "0.25".
std::string human_value(double v, Unit u);
std::string human_growth(double per_s, Unit u);  // "+1.0 MiB/s", "+2.5/s"

}  // namespace leakhound::report
