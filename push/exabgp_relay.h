// ExaBGP relay: the process ExaBGP starts (`process vantage { run
// vantage-exabgp-relay --socket PATH; encoder text; }`). It connects to the
// ExabgpAdapter's Unix socket (retrying every 100 ms), copies each command
// line it receives to stdout (ExaBGP's API input) and ExaBGP's replies from
// stdin back to the socket. It exits when stdin closes (ExaBGP is gone); if
// the adapter goes away it reconnects.
//
// Thread model: single-threaded, blocking; owns the process's stdin/stdout.
#pragma once

#include <string>

namespace vantage::push {

// Returns the process exit code.
int RunExabgpRelay(const std::string& socket_path);

}  // namespace vantage::push
