#include "daemon/oom.h"

#include "report/json_writer.h"
#include "util/log.h"

namespace leakhound::daemon {

bool record_oom(ProcessTable& table, const probes::OomKill& k) {
  OomRecord r;
  r.kill = k;
  if (!table.find_recent(k.pid, k.start_time, &r.process) || r.process.shed == "detached") {
    spdlog::debug("daemon: OOM kill of PID {} ({}), not watched", k.pid, k.comm);
    return false;
  }
  const std::string exe = r.process.exe_path;
  const bool reported = r.process.report != nullptr;
  if (!table.add_oom(std::move(r))) {
    spdlog::debug("daemon: OOM kill of PID {} already recorded (another of its threads)", k.pid);
    return false;
  }
  spdlog::warn("daemon: PID {} ({}) OOM-killed ({} OOM; anon RSS {:.1f} MiB){}", k.pid, exe,
               probes::to_string(k.constraint),
               static_cast<double>(k.anon_rss_bytes) / (1024.0 * 1024.0),
               reported ? ": its last report is at /api/v1/oom" : ", before any report");
  return true;
}

nlohmann::ordered_json oom_record_json(const OomRecord& r) {
  const probes::OomKill& k = r.kill;
  const ProcessEntry& e = r.process;
  nlohmann::ordered_json j{{"pid", k.pid},
                           {"exe", e.exe_path},
                           {"comm", k.comm},
                           {"go_version", e.go_version},
                           {"container_id", e.pod.container_id},
                           {"pod_uid", e.pod.pod_uid},
                           {"pod", e.pod.pod},
                           {"namespace", e.pod.ns},
                           {"cgroup", nullptr},
                           {"limit_cgroup", nullptr},
                           {"limit_bytes", nullptr},
                           {"time", k.unix_time},
                           {"constraint", probes::to_string(k.constraint)},
                           {"uid", k.uid},
                           {"killer_pid", k.killer},
                           {"memory",
                            {{"total_vm_bytes", k.total_vm_bytes},
                             {"anon_rss_bytes", k.anon_rss_bytes},
                             {"file_rss_bytes", k.file_rss_bytes},
                             {"shmem_rss_bytes", k.shmem_rss_bytes}}},
                           {"attached_at", e.attached_at},
                           {"report_at", nullptr},
                           {"report", nullptr}};
  if (e.report) {
    if (const report::MemoryForecast& m = e.report->memory; m.read) {
      j["cgroup"] = m.cgroup;
      if (m.limited) {
        j["limit_cgroup"] = m.limit_cgroup;
        j["limit_bytes"] = m.limit_bytes;
      }
    }
    j["report_at"] = e.report_at;
    j["report"] = report::to_json(*e.report);
  }
  return j;
}

nlohmann::ordered_json oom_list_json(const OomStatus& s, const std::vector<OomRecord>& records) {
  nlohmann::ordered_json kills = nlohmann::ordered_json::array();
  for (const OomRecord& r : records) kills.push_back(oom_record_json(r));
  return {
      {"available", s.available},
      {"reason", s.available ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.reason)},
      {"constraint_known", s.constraint_known},
      {"keep", s.keep},
      {"kills", std::move(kills)}};
}

}  // namespace leakhound::daemon
