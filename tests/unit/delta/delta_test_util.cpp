#include "delta_test_util.hpp"

#include <gtest/gtest.h>
#include <lzma.h>

#include <fstream>
#include <iterator>

#include "agent/delta/xz.hpp"
#include "support/process.hpp"

namespace ferry::testing {

void WriteString(const std::filesystem::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadString(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void ExtractTar(const std::filesystem::path& tar, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  RunResult r = Run({"tar", "-xf", tar.string(), "-C", dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

Result<std::string> ApplyToString(const std::filesystem::path& old_dir,
                                  const std::filesystem::path& delta_path) {
  std::string out;
  delta::FunctionSink sink([&](std::span<const std::uint8_t> bytes) -> Status {
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Ok();
  });
  FERRY_TRY_STATUS(delta::ApplyDelta(old_dir, delta_path, sink), "apply");
  return out;
}

RawDelta UnpackDelta(const std::string& file) {
  RawDelta raw;
  auto header = delta::DecodeHeader(reinterpret_cast<const std::uint8_t*>(file.data()), file.size(),
                                    file.size());
  EXPECT_TRUE(header.has_value());
  if (!header) {
    return raw;
  }
  raw.header = *header;
  std::size_t offset = delta::format::kHeaderSize;
  for (std::size_t i = 0; i < delta::format::kStreamCount; ++i) {
    const auto& extent = header->streams[i];
    std::string out(extent.raw_size, '\0');
    std::uint64_t memlimit = UINT64_MAX;
    std::size_t in_pos = 0, out_pos = 0;
    EXPECT_EQ(lzma_stream_buffer_decode(&memlimit, 0, nullptr,
                                        reinterpret_cast<const std::uint8_t*>(file.data()) + offset,
                                        &in_pos, extent.compressed_size,
                                        reinterpret_cast<std::uint8_t*>(out.data()), &out_pos,
                                        out.size()),
              LZMA_OK);
    raw.streams[i] = std::move(out);
    offset += extent.compressed_size;
  }
  return raw;
}

std::string PackDelta(const RawDelta& raw) {
  delta::FullHeader header = raw.header;
  std::string body;
  for (std::size_t i = 0; i < delta::format::kStreamCount; ++i) {
    auto c = delta::XzCompress(raw.streams[i], 1, delta::format::kDictCap[i]);
    EXPECT_TRUE(c.has_value());
    header.streams[i] = {c->size(), raw.streams[i].size()};
    body += *c;
  }
  return delta::EncodeHeader(header) + body;
}

}  // namespace ferry::testing
