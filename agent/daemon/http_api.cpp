#include "daemon/http_api.h"

#include <httplib.h>

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "daemon/metrics.h"
#include "daemon/oom.h"
#include "daemon/ui_pages.h"
#include "report/json_writer.h"
#include "report/pprof_writer.h"

namespace leakhound::daemon {
namespace {

void error(httplib::Response& res, int status, const std::string& msg) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", msg}}.dump() + "\n", "application/json");
}

// The entry named by ?pid=N with a report, or an error response.
bool entry_for(const ProcessTable& table, const httplib::Request& req, httplib::Response& res,
               ProcessEntry* e) {
  if (!req.has_param("pid")) {
    error(res, 400, "missing ?pid=N");
    return false;
  }
  const std::string s = req.get_param_value("pid");
  int pid = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), pid);
  if (ec != std::errc() || p != s.data() + s.size() || pid <= 0) {
    error(res, 400, "pid must be a positive number");
    return false;
  }
  if (!table.get(pid, e)) {
    error(res, 404, fmt::format("PID {} is not watched (see /api/v1/processes)", pid));
    return false;
  }
  if (e->shed == "detached") {
    error(res, 404, fmt::format("PID {}: {}", pid, e->shed_reason));
    return false;
  }
  if (!e->report) {
    error(res, 503, fmt::format("PID {}: no report yet (attached moments ago)", pid));
    res.set_header("Retry-After", "2");
    return false;
  }
  return true;
}

}  // namespace

Result<std::pair<std::string, int>> parse_listen(const std::string& s) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return make_error("--listen {}: expected HOST:PORT", s);
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  int port = 0;
  const std::string ps = s.substr(colon + 1);
  auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
  if (ec != std::errc() || p != ps.data() + ps.size() || port < 0 || port > 65535)
    return make_error("--listen {}: bad port", s);
  return std::pair{host, port};
}

Result<std::unique_ptr<HttpApi>> HttpApi::start(const std::string& host, int port,
                                                const ProcessTable& table,
                                                const MetricsOptions& metrics) {
  std::unique_ptr<HttpApi> api(new HttpApi());
  api->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *api->server_;
  const ProcessTable* t = &table;

  srv.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  srv.Get("/metrics", [t, metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_metrics(t->list(), t->counters(), read_agent_self(), metrics,
                                   t->oom_status(), t->oom_counts()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  srv.Get("/api/v1/processes", [t](const httplib::Request&, httplib::Response& res) {
    nlohmann::ordered_json procs = nlohmann::ordered_json::array();
    for (const ProcessEntry& e : t->list()) {
      nlohmann::ordered_json j{{"pid", e.pid},
                               {"exe", e.exe_path},
                               {"go_version", e.go_version},
                               {"container_id", e.pod.container_id},
                               {"pod_uid", e.pod.pod_uid},
                               {"pod", e.pod.pod},
                               {"namespace", e.pod.ns},
                               {"attached_at", e.attached_at},
                               {"report_ready", e.report != nullptr}};
      if (e.shed.empty())
        j["shed"] = nullptr;
      else
        j["shed"] = {{"what", e.shed}, {"reason", e.shed_reason}};
      if (e.report) {
        nlohmann::ordered_json full = report::to_json(*e.report);
        j["window_s"] = e.report->duration_s;
        j["summary"] = full.value("summary", nlohmann::ordered_json::object());
      }
      procs.push_back(std::move(j));
    }
    nlohmann::ordered_json out{{"processes", procs}};
    if (const AgentCounters c = t->counters(); c.memory_budget_bytes)
      out["memory"] = {{"bytes", c.memory_bytes},
                       {"budget_bytes", c.memory_budget_bytes},
                       {"window_s", c.window_s}};
    res.set_content(out.dump(2) + "\n", "application/json");
  });
  srv.Get("/api/v1/report", [t](const httplib::Request& req, httplib::Response& res) {
    ProcessEntry e;
    if (!entry_for(*t, req, res, &e)) return;
    res.set_content(report::write_json(*e.report), "application/json");
  });
  srv.Get("/api/v1/oom", [t](const httplib::Request& req, httplib::Response& res) {
    const std::vector<OomRecord> records = t->ooms();
    if (!req.has_param("pid")) {
      res.set_content(oom_list_json(t->oom_status(), records).dump(2) + "\n", "application/json");
      return;
    }
    const std::string s = req.get_param_value("pid");
    int pid = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), pid);
    if (ec != std::errc() || p != s.data() + s.size() || pid <= 0)
      return error(res, 400, "pid must be a positive number");
    for (const OomRecord& r : records)  // newest first
      if (r.kill.pid == pid)
        return res.set_content(oom_record_json(r).dump(2) + "\n", "application/json");
    error(res, 404, fmt::format("no OOM kill of PID {} kept (see /api/v1/oom)", pid));
  });
  auto profile = [t](bool heap) {
    return [t, heap](const httplib::Request& req, httplib::Response& res) {
      ProcessEntry e;
      if (!entry_for(*t, req, res, &e)) return;
      if (e.go_version.empty()) return error(res, 404, "not a Go program: no Go profiles");
      auto gz = heap ? report::heap_profile_gz(*e.report) : report::goroutine_profile_gz(*e.report);
      if (!gz) return error(res, 500, gz.error().message);
      res.set_header("Content-Disposition", fmt::format("attachment; filename=\"{}-{}.pb.gz\"",
                                                        heap ? "heap" : "goroutine", e.pid));
      res.set_content(*gz, "application/octet-stream");
    };
  };
  srv.Get("/", [t](const httplib::Request&, httplib::Response& res) {
    res.set_content(process_list_page(t->list()), "text/html; charset=utf-8");
  });
  srv.Get("/ui/report", [t](const httplib::Request& req, httplib::Response& res) {
    ProcessEntry e;
    if (!entry_for(*t, req, res, &e)) return;
    res.set_content(report_page(e), "text/html; charset=utf-8");
  });
  srv.Get("/debug/pprof/heap", profile(true));
  srv.Get("/debug/pprof/goroutine", profile(false));

  if (port == 0) {
    api->port_ = srv.bind_to_any_port(host);
    if (api->port_ < 0) return make_error("cannot listen on {}: no free port", host);
  } else {
    if (!srv.bind_to_port(host, port))
      return make_error("cannot listen on {}:{} (in use, or not an address of this host)", host,
                        port);
    api->port_ = port;
  }
  api->thread_ = std::thread([s = api->server_.get()] { s->listen_after_bind(); });
  return api;
}

HttpApi::~HttpApi() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace leakhound::daemon
