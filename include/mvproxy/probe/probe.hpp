#pragma once
// `mvproxy probe`: the operator's canary during an upgrade. main() hands over when
// argv[1] is "probe"; this reads the flags, probes until --duration or a signal, and
// returns the exit status: 0 every request succeeded, 1 some did not, 2 bad input.

namespace mvproxy::probe {

// argv[0] is "probe" (the subcommand), the flags follow.
int run(int argc, char** argv);

}  // namespace mvproxy::probe
