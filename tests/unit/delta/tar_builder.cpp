#include "tar_builder.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <random>

namespace ferry::testing {
namespace {

la_ssize_t Append(::archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

void WriteEntry(::archive* a, archive_entry* e, const std::string& data) {
  archive_entry_set_mtime(e, 1700000000, 0);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
  if (!data.empty()) {
    EXPECT_EQ(archive_write_data(a, data.data(), data.size()),
              static_cast<la_ssize_t>(data.size()));
  }
  archive_entry_free(e);
}

}  // namespace

TarBuilder::TarBuilder(Format format) : archive_(archive_write_new()) {
  if (format == Format::kGnu) {
    archive_write_set_format_gnutar(archive_);
  } else {
    archive_write_set_format_pax(archive_);
  }
  archive_write_set_bytes_in_last_block(archive_, 1);
  archive_write_open(archive_, &out_, nullptr, Append, nullptr);
}

TarBuilder::~TarBuilder() {
  if (archive_ != nullptr) {
    archive_write_free(archive_);
  }
}

TarBuilder& TarBuilder::File(const std::string& path, const std::string& content, unsigned mode,
                             const std::map<std::string, std::string>& xattrs) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, mode);
  archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
  for (const auto& [name, value] : xattrs) {
    archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
  }
  WriteEntry(archive_, e, content);
  return *this;
}

TarBuilder& TarBuilder::Dir(const std::string& path) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_filetype(e, AE_IFDIR);
  archive_entry_set_perm(e, 0755);
  WriteEntry(archive_, e, {});
  return *this;
}

TarBuilder& TarBuilder::Symlink(const std::string& path, const std::string& target) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_filetype(e, AE_IFLNK);
  archive_entry_set_perm(e, 0777);
  archive_entry_set_symlink(e, target.c_str());
  WriteEntry(archive_, e, {});
  return *this;
}

TarBuilder& TarBuilder::Hardlink(const std::string& path, const std::string& target) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_hardlink(e, target.c_str());
  archive_entry_set_size(e, 0);
  WriteEntry(archive_, e, {});
  return *this;
}

std::string TarBuilder::Finish() {
  archive_write_close(archive_);
  archive_write_free(archive_);
  archive_ = nullptr;
  return out_;
}

std::string Prose(std::size_t lines, unsigned seed) {
  static const char* const kWords[] = {
      "fix",    "security", "update", "memory",      "buffer", "overflow", "release", "package",
      "debian", "upstream", "patch",  "version",     "build",  "crash",    "error",   "handle",
      "check",  "input",    "parser", "certificate", "module", "library",  "test",    "support"};
  std::mt19937 rng(seed);
  std::string out;
  for (std::size_t i = 0; i < lines; ++i) {
    out += "  * ";
    std::size_t words = 4 + rng() % 9;
    for (std::size_t w = 0; w < words; ++w) {
      out += kWords[rng() % std::size(kWords)];
      out += w + 1 < words ? " " : " (#" + std::to_string(rng() % 100000) + ")\n";
    }
  }
  return out;
}

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) {
    c = static_cast<char>(rng() & 0xff);
  }
  return out;
}

}  // namespace ferry::testing
