#include "lab/run_state.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace vantage::lab {

absl::Status RunState::Save(const std::string& path) const {
  nlohmann::json j = {{"prefix", prefix},
                      {"topology", topology_path},
                      {"namespaces", namespaces},
                      {"processes", nlohmann::json::array()}};
  for (const RecordedProcess& p : processes) {
    j["processes"].push_back(
        {{"role", p.role}, {"node", p.node}, {"pid", p.pid}, {"start_time", p.start_time}});
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<RunState> RunState::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no lab state at ", path));
  std::stringstream text;
  text << in.rdbuf();
  try {
    const nlohmann::json j = nlohmann::json::parse(text.str());
    RunState s;
    s.prefix = j.at("prefix").get<std::string>();
    s.topology_path = j.at("topology").get<std::string>();
    s.namespaces = j.at("namespaces").get<std::vector<std::string>>();
    for (const nlohmann::json& p : j.at("processes")) {
      s.processes.push_back(
          RecordedProcess{p.at("role").get<std::string>(), p.at("node").get<std::string>(),
                          p.at("pid").get<pid_t>(), p.at("start_time").get<uint64_t>()});
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, " is damaged: ", e.what()));
  }
}

}  // namespace vantage::lab
