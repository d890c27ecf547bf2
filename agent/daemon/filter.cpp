#include "daemon/filter.h"

#include <algorithm>

namespace leakhound::daemon {

Result<Filter> Filter::compile(const Filters& f) {
  Filter out;
  out.raw_ = f;
  auto add = [](const std::vector<std::string>& src, std::vector<std::regex>& dst) -> Result<void> {
    for (const std::string& s : src) {
      try {
        dst.emplace_back(s, std::regex::extended);
      } catch (const std::regex_error& e) {
        return make_error("bad regular expression {:?}: {}", s, e.what());
      }
    }
    return {};
  };
  if (auto e = add(f.include_exe, out.inc_exe_); !e) return e.error();
  if (auto e = add(f.exclude_exe, out.exc_exe_); !e) return e.error();
  return out;
}

namespace {
bool matches_any(const std::vector<std::regex>& rs, const std::string& s) {
  return std::any_of(rs.begin(), rs.end(),
                     [&](const std::regex& r) { return std::regex_search(s, r); });
}
}  // namespace

bool Filter::exe_wanted(const std::string& exe_path) const {
  if (!inc_exe_.empty() && !matches_any(inc_exe_, exe_path)) return false;
  return !matches_any(exc_exe_, exe_path);
}

bool Filter::exe_included(const std::string& exe_path) const {
  return matches_any(inc_exe_, exe_path);
}

bool Filter::pod_wanted(const std::string& ns, const std::string& container_id) const {
  auto has = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  if (!raw_.include_namespace.empty() && !has(raw_.include_namespace, ns)) return false;
  if (has(raw_.exclude_namespace, ns) && !ns.empty()) return false;
  if (!raw_.include_container.empty()) {
    bool ok = std::any_of(raw_.include_container.begin(), raw_.include_container.end(),
                          [&](const std::string& p) {
                            return !container_id.empty() && container_id.rfind(p, 0) == 0;
                          });
    if (!ok) return false;
  }
  return true;
}

}  // namespace leakhound::daemon
