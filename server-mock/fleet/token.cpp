#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

#include "fleet_impl.hpp"

namespace ferry::fleet {
namespace {

std::string Hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

}  // namespace

Result<std::string> NewToken() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Fail(Errc::kUnavailable, "the random number generator failed");
  }
  return "fdt_" + Hex(bytes.data(), bytes.size());
}

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return Hex(digest.data(), size);
}

std::string Quote(std::string_view value) {
  constexpr std::size_t kMax = 80;
  std::string out = "\"";
  for (char c : value.substr(0, kMax)) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  }
  out += value.size() > kMax ? "...\"" : "\"";
  return out;
}

}  // namespace ferry::fleet
