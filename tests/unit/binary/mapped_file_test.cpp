// MappedFile: files are mapped, not copied, and a file that shrinks while it
// is mapped reads as zeros (and says so) instead of killing the agent with
// SIGBUS; a SIGBUS that is not ours still kills.
#include "binary/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "binary/pclntab.h"
#include "test_support.h"

namespace leakhound::binary {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/lh-mapped-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

TEST(MappedFile, MapsTheFileAndReadsItAgainAfterReleasingPages) {
  TempDir dir;
  std::vector<uint8_t> bytes(3 * 4096 + 17);
  for (size_t i = 0; i < bytes.size(); i++) bytes[i] = uint8_t(i * 7);
  write_file(dir.file("f"), bytes);
  auto m = MappedFile::open(dir.file("f"));
  ASSERT_TRUE(m) << m.error().message;
  auto b = (*m)->bytes();
  ASSERT_EQ(b.size(), bytes.size());
  EXPECT_TRUE(std::equal(b.begin(), b.end(), bytes.begin()));
  (*m)->release_pages();
  EXPECT_TRUE(std::equal(b.begin(), b.end(), bytes.begin()));
  EXPECT_FALSE((*m)->damaged());
  EXPECT_NE((*m)->ino(), 0u);
}

TEST(MappedFile, EmptyMissingAndNonRegularFiles) {
  TempDir dir;
  write_file(dir.file("empty"), {});
  auto e = MappedFile::open(dir.file("empty"));
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_TRUE((*e)->bytes().empty());
  auto missing = MappedFile::open(dir.file("missing"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing: cannot open"), std::string::npos)
      << missing.error().message;
  auto d = MappedFile::open(dir.file(""));
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("not a regular file"), std::string::npos);
  auto elf = ElfFile::open(dir.file("empty"));
  ASSERT_FALSE(elf);
  EXPECT_NE(elf.error().message.find("not an ELF file"), std::string::npos);
}

// A Go binary truncated after it was parsed: every lookup still returns (on
// zeros), and the file says it was damaged.
TEST(MappedFile, GoBinaryTruncatedWhileMapped) {
  testing::Target t{"1.26", "default"};
  ASSERT_TRUE(fs::exists(t.path())) << "missing " << t.path() << ": scripts/build-targets.sh";
  TempDir dir;
  fs::copy_file(t.path(), dir.file("exe"));
  auto elf = ElfFile::open(dir.file("exe"));
  ASSERT_TRUE(elf) << elf.error().message;
  auto tab = Pclntab::load(*elf);
  ASSERT_TRUE(tab) << tab.error().message;
  std::vector<uint64_t> entries;
  tab->for_each_func([&](const FuncInfo& f) { entries.push_back(f.entry); });
  ASSERT_GT(entries.size(), 1000u);
  elf->mapping()->release_pages();  // every page must come from the file again
  ASSERT_EQ(truncate(dir.file("exe").c_str(), 4096), 0);
  size_t frames = 0;
  for (uint64_t pc : entries) frames += tab->frames(pc + 1).size();
  (void)tab->func_by_name("runtime.mallocgc");
  (void)elf->symbol("runtime.text");
  EXPECT_TRUE(elf->damaged());
  EXPECT_FALSE(elf->section(".gopclntab") == std::nullopt);  // headers were parsed before
  (void)frames;
}

// The handler only stands in for pages of our mappings: any other SIGBUS
// still terminates the process.
TEST(MappedFileDeathTest, ForeignSigbusStillKills) {
  TempDir dir;
  write_file(dir.file("ours"), std::vector<uint8_t>(4096, 1));
  auto ours = MappedFile::open(dir.file("ours"));  // installs the handler
  ASSERT_TRUE(ours);
  write_file(dir.file("foreign"), std::vector<uint8_t>(2 * 4096, 1));
  EXPECT_EXIT(
      {
        int fd = open(dir.file("foreign").c_str(), O_RDWR);
        auto* p =
            static_cast<volatile uint8_t*>(mmap(nullptr, 2 * 4096, PROT_READ, MAP_SHARED, fd, 0));
        if (ftruncate(fd, 0) != 0) _exit(3);
        uint8_t v = p[4096];
        _exit(v == 0 ? 4 : 5);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace leakhound::binary
