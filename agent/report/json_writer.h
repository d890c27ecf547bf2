// JSON report, schema "leakhound.report/v1" (every field is described in
// docs/report-format.md). Contract names are never renamed; fields may be
// added.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "report/model.h"

namespace leakhound::report {

// Findings come out in contract order (sort_findings) whatever the order in r.
nlohmann::ordered_json to_json(const Report& r);

// to_json(r), indented by two spaces, with a trailing newline.
std::string write_json(const Report& r);

nlohmann::ordered_json frame_to_json(const Frame& f);

}  // namespace leakhound::report
