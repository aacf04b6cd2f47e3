#include "sa_diff.hpp"

#include <divsufsort.h>

#include <algorithm>
#include <cstring>

namespace ferry::delta {
namespace {

using Index = std::int64_t;

Index MatchLength(const unsigned char* a, Index a_len, const unsigned char* b, Index b_len) {
  Index n = std::min(a_len, b_len);
  Index i = 0;
  while (i < n && a[i] == b[i]) {
    ++i;
  }
  return i;
}

// Longest prefix of `needle` occurring in `old` (binary search over the suffix array).
Index Search(const std::vector<saidx_t>& sa, const unsigned char* old, Index old_len,
             const unsigned char* needle, Index needle_len, Index& pos) {
  Index lo = 0, hi = old_len;  // sa has old_len entries; search within [lo, hi)
  if (old_len == 0) {
    pos = 0;
    return 0;
  }
  hi = old_len - 1;
  while (hi - lo > 1) {
    Index mid = lo + (hi - lo) / 2;
    Index s = sa[static_cast<std::size_t>(mid)];
    Index n = std::min(old_len - s, needle_len);
    if (std::memcmp(old + s, needle, static_cast<std::size_t>(n)) < 0) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  Index s_lo = sa[static_cast<std::size_t>(lo)], s_hi = sa[static_cast<std::size_t>(hi)];
  Index len_lo = MatchLength(old + s_lo, old_len - s_lo, needle, needle_len);
  Index len_hi = MatchLength(old + s_hi, old_len - s_hi, needle, needle_len);
  if (len_lo >= len_hi) {
    pos = s_lo;
    return len_lo;
  }
  pos = s_hi;
  return len_hi;
}

}  // namespace

SaPatch SaDiff(std::string_view old_data, std::string_view new_data) {
  SaPatch patch;
  const auto* old = reinterpret_cast<const unsigned char*>(old_data.data());
  const auto* neu = reinterpret_cast<const unsigned char*>(new_data.data());
  const Index old_len = static_cast<Index>(old_data.size());
  const Index new_len = static_cast<Index>(new_data.size());
  std::vector<saidx_t> sa(static_cast<std::size_t>(std::max<Index>(old_len, 1)));
  if (old_len > 0) {
    divsufsort(old, sa.data(), static_cast<saidx_t>(old_len));
  }
  patch.diff.reserve(new_data.size());

  Index scan = 0, len = 0, pos = 0;
  Index last_scan = 0, last_pos = 0, last_offset = 0;
  while (scan < new_len) {
    Index old_score = 0;
    Index scsc = scan += len;
    for (; scan < new_len; ++scan) {
      len = Search(sa, old, old_len, neu + scan, new_len - scan, pos);
      for (; scsc < scan + len; ++scsc) {
        if (scsc + last_offset < old_len && scsc + last_offset >= 0 &&
            old[scsc + last_offset] == neu[scsc]) {
          ++old_score;
        }
      }
      if ((len == old_score && len != 0) || len > old_score + 8) {
        break;
      }
      if (scan + last_offset < old_len && scan + last_offset >= 0 &&
          old[scan + last_offset] == neu[scan]) {
        --old_score;
      }
    }
    if (len == old_score && scan != new_len) {
      continue;
    }
    // Extend the previous match forward and this one backward, where more than half agrees.
    Index len_f = 0;
    {
      Index s = 0, best = 0;
      for (Index i = 0; last_scan + i < scan && last_pos + i < old_len;) {
        if (old[last_pos + i] == neu[last_scan + i]) {
          ++s;
        }
        ++i;
        if (s * 2 - i > best * 2 - len_f) {
          best = s;
          len_f = i;
        }
      }
    }
    Index len_b = 0;
    if (scan < new_len) {
      Index s = 0, best = 0;
      for (Index i = 1; scan >= last_scan + i && pos >= i; ++i) {
        if (old[pos - i] == neu[scan - i]) {
          ++s;
        }
        if (s * 2 - i > best * 2 - len_b) {
          best = s;
          len_b = i;
        }
      }
    }
    if (last_scan + len_f > scan - len_b) {
      Index overlap = (last_scan + len_f) - (scan - len_b);
      Index s = 0, best = 0, len_s = 0;
      for (Index i = 0; i < overlap; ++i) {
        if (neu[last_scan + len_f - overlap + i] == old[last_pos + len_f - overlap + i]) {
          ++s;
        }
        if (neu[scan - len_b + i] == old[pos - len_b + i]) {
          --s;
        }
        if (s > best) {
          best = s;
          len_s = i + 1;
        }
      }
      len_f += len_s - overlap;
      len_b -= len_s;
    }
    for (Index i = 0; i < len_f; ++i) {
      patch.diff.push_back(static_cast<char>(neu[last_scan + i] - old[last_pos + i]));
    }
    Index copy_start = last_scan + len_f, copy_end = scan - len_b;
    patch.extra.append(new_data.substr(static_cast<std::size_t>(copy_start),
                                       static_cast<std::size_t>(copy_end - copy_start)));
    patch.controls.push_back({static_cast<std::uint64_t>(len_f),
                              static_cast<std::uint64_t>(copy_end - copy_start),
                              (pos - len_b) - (last_pos + len_f)});
    last_scan = scan - len_b;
    last_pos = pos - len_b;
    last_offset = pos - scan;
  }
  return patch;
}

bool SaApply(std::string_view old_data, const SaPatch& patch, std::string& out) {
  out.clear();
  std::int64_t old_pos = 0;
  std::size_t diff_pos = 0, extra_pos = 0;
  const auto old_len = static_cast<std::int64_t>(old_data.size());
  for (const SaControl& c : patch.controls) {
    if (c.add > patch.diff.size() - diff_pos || old_pos < 0 ||
        c.add > static_cast<std::uint64_t>(old_len - std::min(old_pos, old_len))) {
      return false;
    }
    for (std::uint64_t i = 0; i < c.add; ++i) {
      out.push_back(static_cast<char>(patch.diff[diff_pos + i] +
                                      old_data[static_cast<std::size_t>(old_pos) + i]));
    }
    diff_pos += c.add;
    old_pos += static_cast<std::int64_t>(c.add);
    if (c.copy > patch.extra.size() - extra_pos) {
      return false;
    }
    out.append(patch.extra, extra_pos, c.copy);
    extra_pos += c.copy;
    old_pos += c.seek;
  }
  return diff_pos == patch.diff.size() && extra_pos == patch.extra.size();
}

}  // namespace ferry::delta
