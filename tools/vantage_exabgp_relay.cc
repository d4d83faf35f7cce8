// vantage-exabgp-relay --socket PATH: started by ExaBGP as its API process;
// see push/exabgp_relay.h.
#include <string>

#include "CLI/CLI.hpp"
#include "push/exabgp_relay.h"

int main(int argc, char** argv) {
  CLI::App app{"Relays Vantage's push commands into ExaBGP's process API"};
  std::string socket_path;
  app.add_option("--socket", socket_path, "the push adapter's Unix socket")->required();
  CLI11_PARSE(app, argc, argv);
  return vantage::push::RunExabgpRelay(socket_path);
}
