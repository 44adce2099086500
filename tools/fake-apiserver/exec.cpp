#include "exec.hpp"

#include <nlohmann/json.hpp>

namespace fake_apiserver {

std::optional<std::string> choose_exec_protocol(std::string_view offered) {
  std::vector<std::string> protocols;
  size_t start = 0;
  while (start <= offered.size()) {
    size_t comma = offered.find(',', start);
    std::string_view p =
        offered.substr(start, comma == offered.npos ? offered.npos : comma - start);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    protocols.emplace_back(p);
    if (comma == offered.npos) break;
    start = comma + 1;
  }
  for (const char* want : {"v5.channel.k8s.io", "v4.channel.k8s.io"})
    for (const auto& p : protocols)
      if (p == want) return p;
  return std::nullopt;
}

exec_program plan_command(const std::vector<std::string>& command, const std::string& pod_name) {
  exec_program p;
  const std::string& cmd = command.front();
  if (cmd == "echo") {
    for (size_t i = 1; i < command.size(); ++i) {
      if (i > 1) p.stdout_text += ' ';
      p.stdout_text += command[i];
    }
    p.stdout_text += '\n';
  } else if (cmd == "cat" && command.size() == 1) {
    p.echoes_stdin = true;
  } else if (cmd == "true") {
  } else if (cmd == "false") {
    p.exit_code = 1;
  } else if (cmd == "hostname") {
    p.stdout_text = pod_name + "\n";
  } else {
    p.stderr_text = "fake-apiserver: " + cmd + ": command not found\n";
    p.exit_code = 127;
  }
  return p;
}

std::string exec_status_json(const std::vector<std::string>& command, int exit_code) {
  using nlohmann::json;
  if (exit_code == 0) return R"({"metadata":{},"status":"Success"})";
  std::string joined;
  for (const auto& c : command) joined += (joined.empty() ? "" : " ") + c;
  json s = {{"metadata", json::object()},
            {"status", "Failure"},
            {"message", "command terminated with non-zero exit code: error executing command [" +
                            joined + "], exit code " + std::to_string(exit_code)},
            {"reason", "NonZeroExitCode"},
            {"details",
             {{"causes", {{{"reason", "ExitCode"}, {"message", std::to_string(exit_code)}}}}}}};
  return s.dump();
}

}  // namespace fake_apiserver
