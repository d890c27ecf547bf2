#include "report/pprof_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "proto/profile.pb.h"
#include "sample_report.h"

namespace leakhound::report {
namespace {

namespace fs = std::filesystem;
namespace pb = perftools::profiles;

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lh-pprof-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

pb::Profile read_profile(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  std::string data;
  if (f != nullptr) {
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) data.append(buf, size_t(n));
    EXPECT_EQ(n, 0) << "gzread " << path;
    gzclose(f);
  }
  pb::Profile p;
  EXPECT_TRUE(p.ParseFromString(data)) << path;
  return p;
}

const std::string& str(const pb::Profile& p, int64_t i) {
  static const std::string bad = "<bad string index>";
  return i >= 0 && i < p.string_table_size() ? p.string_table(int(i)) : bad;
}

std::vector<std::string> sample_types(const pb::Profile& p) {
  std::vector<std::string> out;
  for (const pb::ValueType& vt : p.sample_type()) {
    out.push_back(str(p, vt.type()) + "/" + str(p, vt.unit()));
  }
  return out;
}

const pb::Location* location(const pb::Profile& p, uint64_t id) {
  for (const pb::Location& l : p.location()) {
    if (l.id() == id) return &l;
  }
  return nullptr;
}

const pb::Function* function(const pb::Profile& p, uint64_t id) {
  for (const pb::Function& f : p.function()) {
    if (f.id() == id) return &f;
  }
  return nullptr;
}

// "function:line" per Line of the location, innermost first.
std::vector<std::string> lines(const pb::Profile& p, uint64_t location_id) {
  std::vector<std::string> out;
  const pb::Location* l = location(p, location_id);
  if (l == nullptr) return {"<no location>"};
  for (const pb::Line& line : l->line()) {
    const pb::Function* f = function(p, line.function_id());
    out.push_back((f ? str(p, f->name()) : "<no function>") + ":" + std::to_string(line.line()));
  }
  return out;
}

// The function of the sample's innermost frame.
std::string leaf(const pb::Profile& p, const pb::Sample& s) {
  if (s.location_id_size() == 0) return "<empty stack>";
  std::vector<std::string> l = lines(p, s.location_id(0));
  return l.empty() ? "<no lines>" : l.front().substr(0, l.front().rfind(':'));
}

const pb::Sample* sample_with_leaf(const pb::Profile& p, const std::string& fn) {
  for (const pb::Sample& s : p.sample()) {
    if (leaf(p, s) == fn) return &s;
  }
  return nullptr;
}

// What pprof's reader checks, and what we promise beyond it: string 0 is "",
// ids are non-zero and unique, every reference resolves.
void expect_well_formed(const pb::Profile& p) {
  ASSERT_GT(p.string_table_size(), 0);
  EXPECT_EQ(p.string_table(0), "");
  std::set<uint64_t> mappings, locations, functions;
  for (const pb::Mapping& m : p.mapping()) {
    EXPECT_NE(m.id(), 0u);
    EXPECT_TRUE(mappings.insert(m.id()).second) << "duplicate mapping " << m.id();
  }
  for (const pb::Function& f : p.function()) {
    EXPECT_NE(f.id(), 0u);
    EXPECT_TRUE(functions.insert(f.id()).second) << "duplicate function " << f.id();
    EXPECT_LT(f.name(), p.string_table_size());
    EXPECT_LT(f.filename(), p.string_table_size());
  }
  std::set<std::pair<std::string, std::string>> names;
  for (const pb::Function& f : p.function()) {
    EXPECT_TRUE(names.emplace(str(p, f.name()), str(p, f.filename())).second)
        << "function not deduplicated: " << str(p, f.name());
  }
  for (const pb::Location& l : p.location()) {
    EXPECT_NE(l.id(), 0u);
    EXPECT_TRUE(locations.insert(l.id()).second) << "duplicate location " << l.id();
    EXPECT_TRUE(l.mapping_id() == 0 || mappings.count(l.mapping_id())) << l.mapping_id();
    EXPECT_GT(l.line_size(), 0);
    for (const pb::Line& line : l.line()) {
      EXPECT_TRUE(functions.count(line.function_id())) << "location " << l.id();
    }
  }
  for (const pb::Sample& s : p.sample()) {
    EXPECT_EQ(s.value_size(), p.sample_type_size());
    for (uint64_t id : s.location_id()) EXPECT_TRUE(locations.count(id)) << "location " << id;
    for (const pb::Label& l : s.label()) {
      EXPECT_GT(l.key(), 0);
      EXPECT_LT(l.key(), p.string_table_size());
      EXPECT_LT(l.str(), p.string_table_size());
    }
  }
  for (int64_t c : p.comment()) EXPECT_LT(c, p.string_table_size());
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(PprofWriter, HeapProfilesRoundTrip) {
  TempDir tmp;
  const Report r = testing::sample_report();
  int64_t before = now_ns();
  ASSERT_TRUE(write_pprof(r, tmp.path()).ok());
  int64_t after = now_ns();

  for (const char* name : {"heap-start.pb.gz", "heap-end.pb.gz"}) {
    SCOPED_TRACE(name);
    const pb::Profile p = read_profile(tmp / name);
    expect_well_formed(p);
    EXPECT_EQ(sample_types(p),
              (std::vector<std::string>{"alloc_objects/count", "alloc_space/bytes",
                                        "inuse_objects/count", "inuse_space/bytes"}));
    EXPECT_EQ(str(p, p.default_sample_type()), "inuse_space");
    EXPECT_EQ(str(p, p.period_type().type()), "space");
    EXPECT_EQ(str(p, p.period_type().unit()), "bytes");
    EXPECT_EQ(p.period(), 65536);
    ASSERT_EQ(p.sample_size(), 4);
    ASSERT_EQ(p.mapping_size(), 1);
    EXPECT_EQ(p.mapping(0).id(), 1u);
    EXPECT_EQ(str(p, p.mapping(0).filename()), "/usr/bin/app");
    EXPECT_TRUE(p.mapping(0).has_functions());
    EXPECT_TRUE(p.mapping(0).has_filenames());
    EXPECT_TRUE(p.mapping(0).has_line_numbers());
    EXPECT_LE(p.mapping(0).memory_start(), 0x4a1b2cu);
    EXPECT_GT(p.mapping(0).memory_limit(), 0x4a1b2cu);
    std::string comments;
    for (int64_t c : p.comment()) comments += str(p, c) + "\n";
    EXPECT_NE(comments.find("pid 4242"), std::string::npos) << comments;
    EXPECT_NE(comments.find("/usr/bin/app"), std::string::npos) << comments;
    EXPECT_NE(comments.find("go1.22.1"), std::string::npos) << comments;
    // The window started duration_s before the profile was written.
    EXPECT_GE(p.time_nanos(), before - 30'000'000'000);
    EXPECT_LE(p.time_nanos(), after - 30'000'000'000);

    // Stacks: leaf first, the allocator's runtime frames left out as Go's heap
    // profiles do; the frames without pc each a Location of their own.
    const pb::Sample* s = sample_with_leaf(p, "main.(*cache).add");
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->location_id_size(), 4);
    EXPECT_EQ(lines(p, s->location_id(0)), std::vector<std::string>{"main.(*cache).add:42"});
    EXPECT_EQ(lines(p, s->location_id(1)), std::vector<std::string>{"main.handler:88"});
    EXPECT_EQ(lines(p, s->location_id(3)), std::vector<std::string>{"runtime.goexit:1650"});
    EXPECT_EQ(location(p, s->location_id(0))->address(), 0x4a1b2cu);
    EXPECT_EQ(location(p, s->location_id(1))->address(), 0u);
    // Shared frames are shared locations and functions: 4 leaves + 3 callers.
    EXPECT_EQ(p.location_size(), 7);
    EXPECT_EQ(p.function_size(), 7);
    for (const pb::Sample& other : p.sample()) {
      EXPECT_EQ(other.location_id(1), s->location_id(1));
    }
  }

  // alloc_objects, alloc_space, inuse_objects, inuse_space.
  const pb::Profile start = read_profile(tmp / "heap-start.pb.gz");
  const pb::Profile end = read_profile(tmp / "heap-end.pb.gz");
  auto values = [](const pb::Sample* s) {
    return s ? std::vector<int64_t>(s->value().begin(), s->value().end()) : std::vector<int64_t>{};
  };
  const int64_t mib = 1 << 20;
  EXPECT_EQ(values(sample_with_leaf(end, "main.(*cache).add")),
            (std::vector<int64_t>{0, 50 * mib, 12 * mib / 64, 12 * mib}));
  EXPECT_EQ(values(sample_with_leaf(start, "main.(*cache).add")),
            (std::vector<int64_t>{0, 0, 6 * mib / 64, 6 * mib}));  // series.front(): half
  EXPECT_EQ(values(sample_with_leaf(end, "main.fastLeak")),
            (std::vector<int64_t>{0, 0, 3 * mib / 64, 3 * mib}));
  EXPECT_EQ(values(sample_with_leaf(start, "main.stableThing")),
            (std::vector<int64_t>{0, 0, 450 * mib / 64, 450 * mib}));
  EXPECT_EQ(end.duration_nanos(), 30'000'000'000);
  EXPECT_EQ(start.duration_nanos(), 0);
}

TEST(PprofWriter, HeapStartScalesObjectsAndHandlesEmptyFindings) {
  TempDir tmp;
  Report r = testing::sample_report();
  r.heap.resize(1);
  r.heap[0].inuse_bytes = 1000;
  r.heap[0].inuse_objects = 10;
  r.heap[0].series = {{0, 250}, {1, 1000}};
  HeapFinding empty = r.heap[0];
  empty.inuse_bytes = 0;
  empty.inuse_objects = 0;
  empty.series = {{0, 0}};
  empty.stack = {{"main.empty", "/src/app/e.go", 1, 0x4a2000}};
  r.heap.push_back(empty);
  HeapFinding no_series = r.heap[0];
  no_series.series.clear();
  no_series.stack = {{"main.noSeries", "/src/app/n.go", 1, 0x4a3000}};
  r.heap.push_back(no_series);
  ASSERT_TRUE(write_heap_profiles(r, tmp.path()).ok());
  const pb::Profile start = read_profile(tmp / "heap-start.pb.gz");
  expect_well_formed(start);
  ASSERT_EQ(start.sample_size(), 3);
  EXPECT_EQ(start.sample(0).value(2), 3);  // 10 objects * 250/1000, rounded
  EXPECT_EQ(start.sample(0).value(3), 250);
  EXPECT_EQ(start.sample(1).value(2), 0);
  EXPECT_EQ(start.sample(1).value(3), 0);
  EXPECT_EQ(start.sample(2).value(2), 10);  // no series: as at the end
  EXPECT_EQ(start.sample(2).value(3), 1000);
}

TEST(PprofWriter, InlinedFramesShareALocation) {
  TempDir tmp;
  Report r = testing::sample_report();
  r.heap.resize(3);
  // b inlined into c at 0x1000; e, f inlined into g at 0x3000.
  r.heap[0].stack = {
      {"main.b", "/src/b.go", 2, 0x1000}, {"main.c", "/src/c.go", 3, 0x1000},
      {"main.d", "/src/d.go", 4, 0x2000}, {"main.x", "/src/x.go", 5, 0},
      {"main.x", "/src/x.go", 5, 0},      {"main.e", "/src/e.go", 6, 0x3000},
      {"main.f", "/src/f.go", 7, 0x3000}, {"main.g", "/src/g.go", 8, 0x3000},
  };
  // The same inlined pair: the same Location.
  r.heap[1].stack = {{"main.b", "/src/b.go", 2, 0x1000}, {"main.c", "/src/c.go", 3, 0x1000}};
  // Same pc, other frames: another Location at the same address.
  r.heap[2].stack = {{"main.c", "/src/c.go", 3, 0x1000}, {"main.d", "/src/d.go", 4, 0x2000}};
  ASSERT_TRUE(write_heap_profiles(r, tmp.path()).ok());
  const pb::Profile p = read_profile(tmp / "heap-end.pb.gz");
  expect_well_formed(p);
  ASSERT_EQ(p.sample_size(), 3);
  const pb::Sample& s = p.sample(0);
  ASSERT_EQ(s.location_id_size(), 5);
  EXPECT_EQ(lines(p, s.location_id(0)), (std::vector<std::string>{"main.b:2", "main.c:3"}));
  EXPECT_EQ(lines(p, s.location_id(1)), (std::vector<std::string>{"main.d:4"}));
  EXPECT_EQ(lines(p, s.location_id(2)), (std::vector<std::string>{"main.x:5"}));
  EXPECT_EQ(lines(p, s.location_id(3)), (std::vector<std::string>{"main.x:5"}));
  EXPECT_EQ(lines(p, s.location_id(4)),
            (std::vector<std::string>{"main.e:6", "main.f:7", "main.g:8"}));
  EXPECT_EQ(location(p, s.location_id(0))->address(), 0x1000u);
  EXPECT_EQ(location(p, s.location_id(4))->address(), 0x3000u);
  // The two pc-less main.x frames are identical: one Location, listed twice.
  EXPECT_EQ(s.location_id(2), s.location_id(3));

  ASSERT_EQ(p.sample(1).location_id_size(), 1);
  EXPECT_EQ(p.sample(1).location_id(0), s.location_id(0));
  ASSERT_EQ(p.sample(2).location_id_size(), 2);
  EXPECT_NE(p.sample(2).location_id(0), s.location_id(0));
  EXPECT_EQ(location(p, p.sample(2).location_id(0))->address(), 0x1000u);
  EXPECT_EQ(p.sample(2).location_id(1), s.location_id(1));
  EXPECT_EQ(p.location_size(), 5);
  EXPECT_EQ(p.function_size(), 7);  // b c d x e f g
}

TEST(PprofWriter, HeapStackOfOnlyRuntimeFramesIsKept) {
  TempDir tmp;
  Report r = testing::sample_report();
  r.heap.resize(1);
  r.heap[0].stack = {{"runtime.mallocgc", "/go/src/runtime/malloc.go", 1, 0x1000},
                     {"runtime.malg", "/go/src/runtime/proc.go", 2, 0x2000}};
  ASSERT_TRUE(write_heap_profiles(r, tmp.path()).ok());
  const pb::Profile p = read_profile(tmp / "heap-end.pb.gz");
  ASSERT_EQ(p.sample_size(), 1);
  EXPECT_EQ(p.sample(0).location_id_size(), 2);
  EXPECT_EQ(leaf(p, p.sample(0)), "runtime.mallocgc");
}

std::string label(const pb::Profile& p, const pb::Sample& s, const std::string& key) {
  for (const pb::Label& l : s.label()) {
    if (str(p, l.key()) == key) return str(p, l.str());
  }
  return "<no label " + key + ">";
}

TEST(PprofWriter, GoroutineProfileRoundTrip) {
  TempDir tmp;
  Report r = testing::sample_report();
  GoroutineFinding gone = r.goroutines[0];
  gone.count = 0;
  r.goroutines.push_back(gone);
  GoroutineFinding no_stack =
      testing::goroutine(detect::Verdict::Growing, 1, 5, "main.spawn", 12, "");
  no_stack.stack.clear();
  r.goroutines.push_back(no_stack);
  ASSERT_TRUE(write_goroutine_profile(r, tmp.path()).ok());
  const pb::Profile p = read_profile(tmp / "goroutine.pb.gz");
  expect_well_formed(p);
  EXPECT_EQ(sample_types(p), std::vector<std::string>{"goroutine/count"});
  EXPECT_EQ(str(p, p.default_sample_type()), "goroutine");
  ASSERT_EQ(p.sample_size(), 3);  // the site without goroutines left out

  const pb::Sample& pool = p.sample(0);
  EXPECT_EQ(pool.value(0), 8);
  EXPECT_EQ(label(p, pool, "created_by"), "main.startPool /src/app/main.go:30");
  EXPECT_EQ(label(p, pool, "wait_reason"), "chan receive");
  ASSERT_EQ(pool.location_id_size(), 4);
  EXPECT_EQ(lines(p, pool.location_id(0)), std::vector<std::string>{"runtime.gopark:425"});
  EXPECT_EQ(lines(p, pool.location_id(2)), std::vector<std::string>{"main.startPool.func1:31"});

  const pb::Sample& leak = p.sample(1);
  EXPECT_EQ(leak.value(0), 1234);
  EXPECT_EQ(label(p, leak, "created_by"), "main.handle /src/app/main.go:77");
  EXPECT_EQ(label(p, leak, "wait_reason"), "select");
  // runtime.gopark and runtime.chanrecv are the same frames in both stacks.
  EXPECT_EQ(leak.location_id(0), pool.location_id(0));
  EXPECT_EQ(leak.location_id(1), pool.location_id(1));

  const pb::Sample& spawn = p.sample(2);
  EXPECT_EQ(spawn.value(0), 5);
  ASSERT_EQ(spawn.location_id_size(), 1);  // the entry frame stands in
  EXPECT_EQ(lines(p, spawn.location_id(0)), std::vector<std::string>{"main.spawn.func1:12"});
  EXPECT_EQ(location(p, spawn.location_id(0))->address(), 0x4a0100u);
  EXPECT_EQ(label(p, spawn, "wait_reason"), "<no label wait_reason>");  // unknown: no label
}

// --- go tool pprof --------------------------------------------------------

// Runs a shell command; its stdout and stderr, and whether it exited 0.
std::pair<std::string, bool> run(const std::string& cmd) {
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return {"popen failed", false};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = ::pclose(f);
  return {out, status == 0};
}

// `go tool pprof ARGS`. Go needs a build cache (pprof is built into it on
// first use, which takes seconds once); without HOME nor GOCACHE one under
// the temp directory is used.
std::pair<std::string, bool> pprof(const std::string& args) {
  std::string env = "GOTOOLCHAIN=local GOFLAGS= ";
  if (!std::getenv("GOCACHE") && !std::getenv("HOME") && !std::getenv("XDG_CACHE_HOME")) {
    env += "GOCACHE=" + (fs::temp_directory_path() / "leakhound-gocache").string() + " ";
  }
  return run(env + "go tool pprof " + args);
}

class GoToolPprof : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto [where, found] = run("command -v go");
    go_found_ = found;
    if (found) pprof("-h");  // builds pprof into the cache if it is not there yet
  }
  void SetUp() override {
    ASSERT_TRUE(go_found_) << "`go` is not on PATH: go tool pprof is needed";
  }
  static bool go_found_;
};
bool GoToolPprof::go_found_ = false;

// -top's rows after the header: {flat, function}.
std::vector<std::pair<std::string, std::string>> top_rows(const std::string& out) {
  std::vector<std::pair<std::string, std::string>> rows;
  std::istringstream in(out);
  std::string line;
  bool header = false;
  while (std::getline(in, line)) {
    if (!header) {
      header = line.find("flat%") != std::string::npos && line.find("cum%") != std::string::npos;
      continue;
    }
    std::istringstream cols(line);
    std::string flat, flat_pct, sum_pct, cum, cum_pct, fn;
    if (cols >> flat >> flat_pct >> sum_pct >> cum >> cum_pct >> fn) rows.emplace_back(flat, fn);
  }
  return rows;
}

TEST_F(GoToolPprof, HeapEndTopNamesTheBiggestInUse) {
  TempDir tmp;
  Report r = testing::sample_report();
  ASSERT_TRUE(write_pprof(r, tmp.path()).ok());
  auto [out, ok] = pprof("-top '" + (tmp / "heap-end.pb.gz") + "'");
  ASSERT_TRUE(ok) << out;
  EXPECT_NE(out.find("Type: inuse_space"), std::string::npos) << out;
  auto rows = top_rows(out);
  ASSERT_FALSE(rows.empty()) << out;
  EXPECT_EQ(rows[0].second, "main.stableThing") << out;  // 900 MiB, stable
  EXPECT_EQ(rows[0].first, "900MB") << out;

  // Without it the biggest is the leak main.(*cache).add (12 MiB).
  r.heap.erase(r.heap.begin());
  ASSERT_TRUE(write_heap_profiles(r, tmp.path()).ok());
  std::tie(out, ok) = pprof("-sample_index=inuse_space -top '" + (tmp / "heap-end.pb.gz") + "'");
  ASSERT_TRUE(ok) << out;
  rows = top_rows(out);
  ASSERT_FALSE(rows.empty()) << out;
  EXPECT_EQ(rows[0].second, "main.(*cache).add") << out;
  EXPECT_EQ(rows[0].first, "12MB") << out;
  EXPECT_EQ(out.find("runtime.mallocgc"), std::string::npos) << out;
}

TEST_F(GoToolPprof, HeapDiffShowsGrowth) {
  TempDir tmp;
  ASSERT_TRUE(write_pprof(testing::sample_report(), tmp.path()).ok());
  auto [out, ok] = pprof("-sample_index=inuse_space -nodefraction=0 -top -base '" +
                         (tmp / "heap-start.pb.gz") + "' '" + (tmp / "heap-end.pb.gz") + "'");
  ASSERT_TRUE(ok) << out;
  std::map<std::string, std::string> flat;
  for (const auto& [v, fn] : top_rows(out)) flat[fn] = v;
  EXPECT_EQ(flat["main.(*cache).add"], "6MB") << out;   // 6 -> 12 MiB
  EXPECT_EQ(flat["main.fastLeak"], "1.50MB") << out;    // 1.5 -> 3 MiB
  EXPECT_EQ(flat["main.stableThing"], "450MB") << out;  // its series starts at half, too

  // Allocations during the window: all in the end profile.
  std::tie(out, ok) = pprof("-sample_index=alloc_space -top -base '" + (tmp / "heap-start.pb.gz") +
                            "' '" + (tmp / "heap-end.pb.gz") + "'");
  ASSERT_TRUE(ok) << out;
  auto rows = top_rows(out);
  ASSERT_FALSE(rows.empty()) << out;
  EXPECT_EQ(rows[0], (std::pair<std::string, std::string>{"50MB", "main.(*cache).add"})) << out;
}

TEST_F(GoToolPprof, GoroutineTopListsTheLeaf) {
  TempDir tmp;
  ASSERT_TRUE(write_pprof(testing::sample_report(), tmp.path()).ok());
  auto [out, ok] = pprof("-top '" + (tmp / "goroutine.pb.gz") + "'");
  ASSERT_TRUE(ok) << out;
  EXPECT_NE(out.find("Type: goroutine"), std::string::npos) << out;
  auto rows = top_rows(out);
  ASSERT_FALSE(rows.empty()) << out;
  EXPECT_EQ(rows[0], (std::pair<std::string, std::string>{"1242", "runtime.gopark"})) << out;

  // The creation sites are there as labels.
  std::tie(out, ok) = pprof("-tags '" + (tmp / "goroutine.pb.gz") + "'");
  ASSERT_TRUE(ok) << out;
  EXPECT_NE(out.find("main.handle /src/app/main.go:77"), std::string::npos) << out;
  EXPECT_NE(out.find("select"), std::string::npos) << out;
}

// --- errors ---------------------------------------------------------------

TEST(PprofWriter, DirectoryUnderARegularFile) {
  TempDir tmp;
  std::ofstream(tmp / "file") << "x";
  const std::string under = tmp / "file/pprof";
  Result<void> res = write_pprof(testing::sample_report(), under);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().message.find(under), std::string::npos) << res.error().message;
  EXPECT_NE(res.error().message.find("Not a directory"), std::string::npos) << res.error().message;

  // The directory itself a regular file.
  res = write_pprof(testing::sample_report(), tmp / "file");
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().message.find(tmp / "file"), std::string::npos) << res.error().message;
  EXPECT_NE(res.error().message.find("Not a directory"), std::string::npos) << res.error().message;

  // The single writers do not create the directory.
  res = write_goroutine_profile(testing::sample_report(), tmp / "missing");
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().message.find(tmp / "missing/goroutine.pb.gz"), std::string::npos)
      << res.error().message;
}

TEST(PprofWriter, UnwritableDirectory) {
  TempDir tmp;
  // Root writes through permission bits; sysfs takes no new files from anyone.
  std::string dir = "/sys";
  if (::geteuid() != 0) {
    dir = tmp / "ro";
    ASSERT_EQ(::mkdir(dir.c_str(), 0555), 0);
  }
  Result<void> res = write_pprof(testing::sample_report(), dir);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error().message.find(dir + "/heap-start.pb.gz"), std::string::npos)
      << res.error().message;
  EXPECT_EQ(res.error().message.find('\n'), std::string::npos) << res.error().message;
}

TEST(PprofWriter, DiskFullLeavesNoFile) {
  TempDir tmp;
  // Writes to /dev/full fail with ENOSPC.
  ASSERT_EQ(::symlink("/dev/full", (tmp / "heap-end.pb.gz").c_str()), 0);
  Result<void> res = write_heap_profiles(testing::sample_report(), tmp.path());
  ASSERT_FALSE(res.ok());
  const std::string& msg = res.error().message;
  EXPECT_NE(msg.find(tmp / "heap-end.pb.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(fs::symlink_status(tmp / "heap-end.pb.gz")));
  EXPECT_TRUE(fs::exists(tmp / "heap-start.pb.gz"));  // written before
}

TEST(PprofWriter, ExistingDirectoryIsReused) {
  TempDir tmp;
  const std::string dir = tmp / "out/";
  ASSERT_TRUE(write_pprof(testing::sample_report(), dir).ok());
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777 & ~0755u, 0u);  // 0755, less the umask
  ASSERT_TRUE(write_pprof(testing::sample_report(), dir).ok());
  for (const char* name : {"heap-start.pb.gz", "heap-end.pb.gz", "goroutine.pb.gz"}) {
    EXPECT_TRUE(fs::is_regular_file(tmp / (std::string("out/") + name))) << name;
  }
}

}  // namespace
}  // namespace leakhound::report
