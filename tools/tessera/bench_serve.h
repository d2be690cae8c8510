// `tessera bench serve`: online serving benchmark in the manner of vLLM's `vllm bench serve` (random dataset,
// Poisson/gamma arrivals, optional concurrency cap, streamed requests through the OpenAI HTTP API or
// tessera.v1.Generation over gRPC), printing vLLM's result table and optionally saving its JSON.
#pragma once

namespace tessera::cli {

// argv[first..] are the flags after `tessera bench serve`; returns the process exit code.
int RunBenchServe(int argc, char** argv, int first);

}  // namespace tessera::cli
