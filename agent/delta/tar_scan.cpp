#include "tar_scan.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace ferry::delta {
namespace {

constexpr std::uint64_t kBlock = 512;

std::string_view CField(std::string_view block, std::size_t off, std::size_t len) {
  std::string_view f = block.substr(off, len);
  return f.substr(0, std::min(f.find('\0'), f.size()));
}

// Octal, or GNU base-256 when the high bit of the first byte is set.
std::optional<std::uint64_t> NumField(std::string_view block, std::size_t off, std::size_t len) {
  std::string_view f = block.substr(off, len);
  if (!f.empty() && (static_cast<unsigned char>(f[0]) & 0x80) != 0) {
    std::uint64_t v = static_cast<unsigned char>(f[0]) & 0x3f;
    for (std::size_t i = 1; i < f.size(); ++i) {
      if (v >> 55 != 0) {
        return std::nullopt;
      }
      v = (v << 8) | static_cast<unsigned char>(f[i]);
    }
    return v;
  }
  std::uint64_t v = 0;
  std::size_t i = 0;
  while (i < f.size() && f[i] == ' ') {
    ++i;
  }
  bool any = false;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '7'; ++i) {
    if (v >> 60 != 0) {
      return std::nullopt;
    }
    v = v * 8 + static_cast<std::uint64_t>(f[i] - '0');
    any = true;
  }
  if (!any) {
    return std::nullopt;
  }
  return v;
}

bool ChecksumOk(std::string_view block) {
  auto stored = NumField(block, 148, 8);
  if (!stored) {
    return false;
  }
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(block[i]);
  }
  return sum == *stored;
}

// Pax records "LEN key=value\n"; returns path, linkpath and size overrides.
struct PaxOverrides {
  std::optional<std::string> path, linkpath;
  std::optional<std::uint64_t> size;
};

void ParsePax(std::string_view data, PaxOverrides& out) {
  while (!data.empty()) {
    std::size_t space = data.find(' ');
    if (space == std::string_view::npos) {
      return;
    }
    std::uint64_t len = 0;
    auto [p, ec] = std::from_chars(data.data(), data.data() + space, len);
    if (ec != std::errc() || len <= space + 1 || len > data.size()) {
      return;
    }
    std::string_view rec = data.substr(space + 1, len - space - 2);  // without trailing '\n'
    std::size_t eq = rec.find('=');
    if (eq != std::string_view::npos) {
      std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
      if (key == "path") {
        out.path = std::string(value);
      } else if (key == "linkpath") {
        out.linkpath = std::string(value);
      } else if (key == "size") {
        std::uint64_t s = 0;
        auto [q, ec2] = std::from_chars(value.data(), value.data() + value.size(), s);
        if (ec2 == std::errc()) {
          out.size = s;
        }
      }
    }
    data.remove_prefix(len);
  }
}

std::uint64_t Padded(std::uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

}  // namespace

std::string NormalizeTarPath(std::string_view name) {
  while (true) {
    if (name.starts_with("./")) {
      name.remove_prefix(2);
    } else if (name.starts_with("/")) {
      name.remove_prefix(1);
    } else {
      break;
    }
  }
  while (name.ends_with("/")) {
    name.remove_suffix(1);
  }
  return std::string(name == "." ? std::string_view() : name);
}

TarScan ScanTar(std::string_view tar) {
  TarScan scan;
  std::vector<TarRegion>& regions = scan.regions;
  std::uint64_t meta_start = 0;
  auto push_meta_until = [&](std::uint64_t end) {
    if (end > meta_start) {
      regions.push_back({meta_start, end - meta_start, false, {}});
    }
    meta_start = end;
  };
  std::uint64_t pos = 0;
  PaxOverrides pax;
  std::optional<std::string> long_name, long_link;
  const std::uint64_t total = tar.size();
  while (pos + kBlock <= total) {
    std::string_view block = tar.substr(pos, kBlock);
    if (block.find_first_not_of('\0') == std::string_view::npos || !ChecksumOk(block)) {
      break;  // end of archive, or something we do not parse: the rest is carried verbatim
    }
    auto size_field = NumField(block, 124, 12);
    if (!size_field) {
      break;
    }
    char type = block[156];
    std::uint64_t size = *size_field;
    bool is_ext = type == 'x' || type == 'g' || type == 'L' || type == 'K';
    if (!is_ext && pax.size) {
      size = *pax.size;
    }
    std::uint64_t data_start = pos + kBlock;
    if (size > total - data_start) {
      break;
    }
    std::string_view data = tar.substr(data_start, size);
    if (type == 'x') {
      ParsePax(data, pax);
    } else if (type == 'L') {
      long_name = std::string(data.substr(0, std::min(data.find('\0'), data.size())));
    } else if (type == 'K') {
      long_link = std::string(data.substr(0, std::min(data.find('\0'), data.size())));
    } else if (type != 'g') {
      std::string name;
      if (pax.path) {
        name = *pax.path;
      } else if (long_name) {
        name = *long_name;
      } else {
        std::string_view magic = block.substr(257, 6);
        std::string_view prefix =
            magic == std::string_view("ustar\0", 6) ? CField(block, 345, 155) : std::string_view();
        name = prefix.empty() ? std::string(CField(block, 0, 100))
                              : std::string(prefix) + "/" + std::string(CField(block, 0, 100));
      }
      std::string link = pax.linkpath ? *pax.linkpath
                         : long_link  ? *long_link
                                      : std::string(CField(block, 157, 100));
      bool regular = type == '0' || type == '\0' || type == '7';
      if (regular && size > 0) {
        push_meta_until(data_start);
        regions.push_back({data_start, size, true, NormalizeTarPath(name)});
        meta_start = data_start + size;
      } else if (type == '1') {
        scan.hardlinks.emplace_back(NormalizeTarPath(name), NormalizeTarPath(link));
      }
      pax = {};
      long_name.reset();
      long_link.reset();
    }
    std::uint64_t next = data_start + Padded(size);
    if (next > total) {
      break;
    }
    pos = next;
  }
  push_meta_until(total);
  return scan;
}

}  // namespace ferry::delta
