#include "tar_builder.hpp"

#include <archive.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

namespace ferry::layers::testing {
namespace {

la_ssize_t Append(struct archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

}  // namespace

TarBuilder::TarBuilder(TarFormat format) : archive_(archive_write_new()) {
  switch (format) {
    case TarFormat::kPax:
      archive_write_set_format_pax(archive_);
      break;
    case TarFormat::kGnu:
      archive_write_set_format_gnutar(archive_);
      break;
    case TarFormat::kUstar:
      archive_write_set_format_ustar(archive_);
      break;
  }
  archive_write_add_filter_none(archive_);
  archive_write_set_bytes_in_last_block(archive_, 1);
  EXPECT_EQ(archive_write_open(archive_, &out_, nullptr, Append, nullptr), ARCHIVE_OK);
}

TarBuilder::~TarBuilder() { archive_write_free(archive_); }

TarBuilder& TarBuilder::Entry(const std::string& path,
                              const std::function<void(archive_entry*)>& setup,
                              const std::string& data) {
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_mtime(e, kMtime, 0);
  archive_entry_set_uid(e, 1000);
  archive_entry_set_gid(e, 1000);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  setup(e);
  EXPECT_GE(archive_write_header(archive_, e), ARCHIVE_WARN)
      << path << ": " << archive_error_string(archive_);
  if (!data.empty()) {
    EXPECT_EQ(archive_write_data(archive_, data.data(), data.size()),
              static_cast<la_ssize_t>(data.size()));
  }
  archive_entry_free(e);
  return *this;
}

TarBuilder& TarBuilder::Dir(const std::string& path, unsigned mode) {
  return Entry(path, [&](archive_entry* e) {
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, mode);
  });
}

TarBuilder& TarBuilder::File(const std::string& path, const std::string& content, unsigned mode) {
  return Entry(
      path, [&](archive_entry* e) { archive_entry_set_perm(e, mode); }, content);
}

TarBuilder& TarBuilder::Symlink(const std::string& path, const std::string& target) {
  return Entry(path, [&](archive_entry* e) {
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_perm(e, 0777);
    archive_entry_set_symlink(e, target.c_str());
  });
}

TarBuilder& TarBuilder::Hardlink(const std::string& path, const std::string& target) {
  return Entry(path, [&](archive_entry* e) {
    archive_entry_set_hardlink(e, target.c_str());
    archive_entry_set_size(e, 0);
  });
}

TarBuilder& TarBuilder::Node(const std::string& path, unsigned type, unsigned major,
                             unsigned minor) {
  return Entry(path, [&](archive_entry* e) {
    archive_entry_set_filetype(e, type);
    archive_entry_set_rdevmajor(e, major);
    archive_entry_set_rdevminor(e, minor);
  });
}

std::string TarBuilder::Finish() {
  EXPECT_EQ(archive_write_close(archive_), ARCHIVE_OK);
  return out_;
}

std::string RawUstarHeader(const std::string& name, char type, std::uint64_t size,
                           const std::string& link) {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 100));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 1000);
  std::snprintf(h.data() + 116, 8, "%07o", 1000);
  std::snprintf(h.data() + 124, 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(h.data() + 136, 12, "%011llo", static_cast<unsigned long long>(TarBuilder::kMtime));
  h[156] = type;
  std::memcpy(h.data() + 157, link.data(), std::min<std::size_t>(link.size(), 100));
  std::memcpy(h.data() + 257,
              "ustar\0"
              "00",
              8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (const char c : h) {
    sum += static_cast<unsigned char>(c);
  }
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

std::string RawPaxHeader(const std::string& records) {
  std::string body;
  std::size_t start = 0;
  while (start < records.size()) {
    std::size_t end = records.find('\n', start);
    if (end == std::string::npos) {
      end = records.size();
    }
    const std::string record = records.substr(start, end - start);
    start = end + 1;
    // "<len> <record>\n" where len counts itself.
    const std::size_t base = record.size() + 2;
    std::size_t digits = std::to_string(base).size();
    while (std::to_string(base + digits).size() != digits) {
      ++digits;
    }
    const std::size_t len = base + digits;
    body += std::to_string(len) + " " + record + "\n";
  }
  return RawUstarHeader("PaxHeader", 'x', body.size()) + Pad512(body);
}

std::string Pad512(std::string data) {
  data.resize((data.size() + 511) / 512 * 512, '\0');
  return data;
}

std::string EndOfArchive() { return std::string(1024, '\0'); }

}  // namespace ferry::layers::testing
