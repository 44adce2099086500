#pragma once
// What `kubectl exec` sees from the stand-in's pretend containers, and the
// remotecommand WebSocket protocol choice. Pure.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fake_apiserver {

// Picks from Sec-WebSocket-Protocol: v5.channel.k8s.io, else v4.channel.k8s.io.
std::optional<std::string> choose_exec_protocol(std::string_view offered);

struct exec_program {
  std::string stdout_text;  // written at once
  std::string stderr_text;
  bool echoes_stdin = false;  // `cat`: stdin is copied to stdout until it closes
  int exit_code = 0;
};

// echo ARGS..., cat, true, false, hostname; anything else exits 127 ("not found").
exec_program plan_command(const std::vector<std::string>& command, const std::string& pod_name);

// The v4+ error-channel (3) message: Success, or NonZeroExitCode with the code.
std::string exec_status_json(const std::vector<std::string>& command, int exit_code);

}  // namespace fake_apiserver
