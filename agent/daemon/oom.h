// OOM kills of watched processes (probes/oom_watch): each leaves a record of
// the kill and the process's last report, served at /api/v1/oom.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "daemon/process_table.h"
#include "probes/oom_watch.h"

namespace leakhound::daemon {

// Keeps a record of k when its victim was watched (or exited moments ago,
// the exit event handled first); false when it was not.
bool record_oom(ProcessTable& table, const probes::OomKill& k);

// /api/v1/oom: the status and every record kept, newest first.
nlohmann::ordered_json oom_list_json(const OomStatus& s, const std::vector<OomRecord>& records);
// /api/v1/oom?pid=N: pid's newest record.
nlohmann::ordered_json oom_record_json(const OomRecord& r);

}  // namespace leakhound::daemon
