#include "lab/packet_device.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vantage::lab {

FdPacketDevice::FdPacketDevice(int fd) : fd_(fd) {
  const int flags = fcntl(fd_, F_GETFL);
  if (flags >= 0) fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

FdPacketDevice::~FdPacketDevice() { close(fd_); }

absl::StatusOr<std::optional<size_t>> FdPacketDevice::Read(uint8_t* buffer, size_t capacity) {
  while (true) {
    const ssize_t n = read(fd_, buffer, capacity);
    if (n >= 0) return std::optional<size_t>(static_cast<size_t>(n));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::optional<size_t>();
    return absl::InternalError(absl::StrCat("read: ", std::strerror(errno)));
  }
}

absl::Status FdPacketDevice::Write(const uint8_t* data, size_t size) {
  while (true) {
    const ssize_t n = write(fd_, data, size);
    if (n >= 0) return absl::OkStatus();
    if (errno == EINTR) continue;
    return absl::UnavailableError(absl::StrCat("write: ", std::strerror(errno)));
  }
}

}  // namespace vantage::lab
