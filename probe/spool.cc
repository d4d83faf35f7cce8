#include "probe/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vantage::probe {
namespace {

constexpr char kMagic[4] = {'V', 'S', 'P', 'L'};
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = 4 + 1 + 3 + 8 + 4 + 4;  // magic ver pad seq len crc

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteDurably(const std::string& dir, const std::string& path,
                          const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("open", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status st = Errno("write", tmp);
      close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    absl::Status st = Errno("fsync", tmp);
    close(fd);
    return st;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename", tmp);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

}  // namespace

uint32_t Crc32c(const void* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(const std::string& dir, uint64_t max_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("spool dir ", dir, ": ", ec.message()));
  std::unique_ptr<Spool> spool(new Spool(dir, max_bytes));
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".tmp") {
      // A write that never completed: it was never acknowledged as spooled.
      std::filesystem::remove(entry.path(), ec);
      continue;
    }
    uint64_t seq = 0;
    if (entry.path().extension() != ".rec" ||
        !absl::SimpleAtoi(entry.path().stem().string(), &seq)) {
      continue;
    }
    const uint64_t size = entry.file_size(ec);
    spool->index_.emplace_back(seq, ec ? 0 : size);
    spool->stats_.bytes += ec ? 0 : size;
  }
  if (ec) return absl::UnavailableError(absl::StrCat("spool dir ", dir, ": ", ec.message()));
  std::sort(spool->index_.begin(), spool->index_.end());
  if (!spool->index_.empty()) spool->next_seq_ = spool->index_.back().first + 1;
  spool->stats_.records = spool->index_.size();
  return spool;
}

std::string Spool::PathOf(uint64_t seq) const { return absl::StrFormat("%s/%020d.rec", dir_, seq); }

absl::StatusOr<uint64_t> Spool::Append(const std::string& payload) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t seq = next_seq_++;
  std::string record;
  record.reserve(kHeaderSize + payload.size());
  record.append(kMagic, 4);
  record.push_back(static_cast<char>(kVersion));
  record.append(3, '\0');
  PutLe(&record, seq, 8);
  PutLe(&record, payload.size(), 4);
  uint32_t crc = Crc32c(record.data() + 8, 8);
  crc = Crc32c(payload.data(), payload.size(), crc);
  PutLe(&record, crc, 4);
  record += payload;
  // Make room first: the cap holds even across a crash mid-append.
  while (!index_.empty() && stats_.bytes + record.size() > max_bytes_) {
    DropLocked(index_.front().first);
    ++stats_.dropped_full;
  }
  if (absl::Status st = WriteDurably(dir_, PathOf(seq), record); !st.ok()) return st;
  index_.emplace_back(seq, record.size());
  stats_.bytes += record.size();
  ++stats_.records;
  ++stats_.appended;
  return seq;
}

std::optional<SpoolRecord> Spool::Next(uint64_t after) {
  std::lock_guard<std::mutex> lock(mu_);
  for (;;) {
    auto it = std::upper_bound(index_.begin(), index_.end(), std::make_pair(after, UINT64_MAX));
    if (it == index_.end()) return std::nullopt;
    const uint64_t seq = it->first;
    std::ifstream in(PathOf(seq), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bool ok = bytes.size() >= kHeaderSize && std::memcmp(bytes.data(), kMagic, 4) == 0 &&
              static_cast<uint8_t>(bytes[4]) == kVersion && GetLe(bytes.data() + 8, 8) == seq;
    if (ok) {
      const uint64_t len = GetLe(bytes.data() + 16, 4);
      ok = bytes.size() == kHeaderSize + len;
      if (ok) {
        uint32_t crc = Crc32c(bytes.data() + 8, 8);
        crc = Crc32c(bytes.data() + kHeaderSize, len, crc);
        ok = crc == GetLe(bytes.data() + 20, 4);
      }
    }
    if (!ok) {
      ++stats_.corrupt;
      DropLocked(seq);
      continue;
    }
    return SpoolRecord{seq, bytes.substr(kHeaderSize)};
  }
}

absl::Status Spool::Remove(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(seq, uint64_t{0}));
  if (it == index_.end() || it->first != seq) return absl::OkStatus();
  DropLocked(seq);
  ++stats_.removed;
  return absl::OkStatus();
}

void Spool::DropLocked(uint64_t seq) {
  auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(seq, uint64_t{0}));
  if (it == index_.end() || it->first != seq) return;
  std::error_code ec;
  std::filesystem::remove(PathOf(seq), ec);
  stats_.bytes -= std::min(stats_.bytes, it->second);
  index_.erase(it);
  --stats_.records;
}

void Spool::SetMaxBytes(uint64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  max_bytes_ = max_bytes;
}

SpoolStats Spool::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace vantage::probe
