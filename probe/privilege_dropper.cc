#include "probe/privilege_dropper.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vantage::probe {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::PermissionDeniedError(absl::StrCat(what, ": ", std::strerror(errno)));
}

constexpr uint32_t kKeptCaps = (1u << CAP_NET_RAW) | (1u << CAP_NET_ADMIN);

}  // namespace

absl::Status PrivilegeDropper::DropTo(const std::string& user,
                                      const std::vector<std::string>& chown_paths) {
  passwd pw{};
  passwd* found = nullptr;
  std::string buffer(16384, '\0');
  if (getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return absl::NotFoundError(absl::StrCat("user '", user, "' does not exist"));
  }
  const uid_t uid = pw.pw_uid;
  const gid_t gid = pw.pw_gid;
  for (const std::string& path : chown_paths) {
    std::error_code ec;
    if (lchown(path.c_str(), uid, gid) != 0) return Errno(absl::StrCat("chown ", path));
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path, ec)) {
      if (lchown(entry.path().c_str(), uid, gid) != 0) {
        return Errno(absl::StrCat("chown ", entry.path().string()));
      }
    }
    if (ec) return absl::InternalError(absl::StrCat("listing ", path, ": ", ec.message()));
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return Errno("prctl(PR_SET_KEEPCAPS)");
  if (setgroups(0, nullptr) != 0) return Errno("setgroups");
  if (setresgid(gid, gid, gid) != 0) return Errno("setresgid");
  if (setresuid(uid, uid, uid) != 0) return Errno("setresuid");
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2]{};
  data[0].effective = kKeptCaps;
  data[0].permitted = kKeptCaps;
  if (syscall(SYS_capset, &header, data) != 0) return Errno("capset");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return Errno("prctl(PR_SET_KEEPCAPS, 0)");
  // No way back: a later setuid(0) must fail.
  if (uid != 0 && setuid(0) == 0) return absl::InternalError("could regain root after dropping");
  return absl::OkStatus();
}

std::string PrivilegeDropper::Describe() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return "capget failed";
  return absl::StrFormat("uid=%d gid=%d effective_caps=0x%x permitted_caps=0x%x", getuid(),
                         getgid(), data[0].effective, data[0].permitted);
}

}  // namespace vantage::probe
