// Subcommands: each registers its options on the CLI11 app and runs.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace leakhound::cli {

using Runner = std::function<int()>;

struct GlobalOptions {
  int verbosity = 0;
};

Runner add_attach(CLI::App& app, const GlobalOptions& g);
Runner add_inspect(CLI::App& app, const GlobalOptions& g);
Runner add_restore(CLI::App& app, const GlobalOptions& g);
Runner add_daemon(CLI::App& app, const GlobalOptions& g);

}  // namespace leakhound::cli
