// leakhound: parses the command line and calls into the agent.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "support/support.h"
#include "util/log.h"

// Commands return errors as values; what can still throw here (bad_alloc,
// CLI11's own setup) should end the program.
// NOLINTNEXTLINE(bugprone-exception-escape)
int main(int argc, char** argv) {
  using namespace leakhound;
  CLI::App app{"leakhound: find memory and goroutine leaks in running Go programs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    std::string s = support::version_text();
    s.pop_back();  // CLI11 ends the line
    return s;
  });
  cli::GlobalOptions g;
  app.add_flag("-v,--verbose", g.verbosity, "more log output (-vv: libbpf's too)");
  std::vector<std::pair<CLI::App*, cli::Runner>> cmds;
  auto* attach = app.add_subcommand("attach", "attach to a running Go process and report leaks");
  cmds.emplace_back(attach, cli::add_attach(*attach, g));
  auto* inspect = app.add_subcommand("inspect", "show what leakhound knows about a Go process");
  cmds.emplace_back(inspect, cli::add_inspect(*inspect, g));
  auto* restore = app.add_subcommand(
      "restore",
      "undo what a leakhound killed mid-attach left in a process (its heap sampler, a "
      "pending goroutine leak check)");
  cmds.emplace_back(restore, cli::add_restore(*restore, g));
  auto* daemon = app.add_subcommand(
      "daemon", "watch every Go process of the host; serve metrics, reports and profiles");
  cmds.emplace_back(daemon, cli::add_daemon(*daemon, g));
  CLI11_PARSE(app, argc, argv);
  init_logging(g.verbosity);
  for (auto& [sub, run] : cmds) {
    if (sub->parsed()) return run();
  }
  return 2;
}
