// PrivilegeDropper: after the probe has opened its raw sockets and captures
// as root, becomes an unprivileged user keeping only CAP_NET_RAW and
// CAP_NET_ADMIN (permitted and effective), which the prober needs to open
// new raw sockets and captures when a reload changes the targets.
//
// How: prctl(PR_SET_KEEPCAPS) so the permitted set survives the uid change,
// setgroups(0) + setresgid + setresuid to the user, then capset(2) (the raw
// system call; no libcap) to trim the sets to the two capabilities. The
// given paths (the spool directory) are handed to the user first so it can
// still write them.
//
// Thread model: call on the thread that will keep measuring (capabilities
// are per thread). glibc applies the uid change to every thread; the other
// threads (exporter, metrics) do not set KEEPCAPS, so they end up with no
// capabilities at all.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace vantage::probe {

class PrivilegeDropper {
 public:
  // `user` must exist. Fails (and changes nothing more) on the first error.
  [[nodiscard]] static absl::Status DropTo(const std::string& user,
                                           const std::vector<std::string>& chown_paths);
  // "uid=..., caps=0x..." of the calling thread, for logs and tests.
  static std::string Describe();
};

}  // namespace vantage::probe
