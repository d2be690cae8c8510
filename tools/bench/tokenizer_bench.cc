// Qwen3 tokenizer encode throughput, single thread, in MB/s (10^6 bytes of UTF-8 input per second) on the English
// and the Chinese strings of tests/fixtures/golden_text.json, each concatenated to at least 1 MB: once as one
// Encode call on the whole text, once string by string (prompt-sized calls).
//
// The tokenizer comes from --tokenizer_dir=DIR when given, else the build's unpacked fixtures
// (<build>/fixtures/tokenizers/qwen3), else tests/fixtures/tokenizers.tar.xz unpacked into a temporary folder.
// `tokenizer_bench --dump_inputs=DIR` writes the exact inputs (DIR/english.txt, DIR/chinese.txt, one string per
// line as JSON) and exits, so that tools/bench/tokenizer_side_by_side.sh can time Hugging Face tokenizers on them.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace {

namespace fs = std::filesystem;

constexpr size_t kMinInputBytes = 1000 * 1000;

struct Corpus {
  std::vector<std::string> strings;  // the distinct fixture strings of one language
  std::string whole;                 // strings joined with "\n", repeated to >= kMinInputBytes
  std::vector<std::string_view> lines;  // `whole` cut back into its strings
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

bool HasCjk(std::string_view text) {
  // UTF-8 lead bytes 0xE4..0xE9 start U+4E00..U+9FFF, the CJK Unified Ideographs block.
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0xE4 && c <= 0xE9 && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) return true;
  }
  return false;
}

bool IsAscii(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// English: the strings that are all ASCII; Chinese: the strings with CJK ideographs. Both from Qwen3's fixtures.
Corpus MakeCorpus(bool chinese) {
  const nlohmann::json golden =
      nlohmann::json::parse(ReadFile(fs::path(TESSERA_FIXTURES_DIR) / "golden_text.json"), nullptr, false);
  Corpus corpus;
  if (golden.is_discarded()) return corpus;
  for (const auto& entry : golden["tokenizers"]["qwen3"]) {
    std::string text = entry["text"].get<std::string>();
    if (text.empty() || text.find('\n') != std::string::npos) continue;  // lines stay one string each
    if (chinese ? HasCjk(text) : IsAscii(text)) corpus.strings.push_back(std::move(text));
  }
  if (corpus.strings.empty()) return corpus;
  while (corpus.whole.size() < kMinInputBytes) {
    for (const std::string& s : corpus.strings) {
      corpus.whole += s;
      corpus.whole += '\n';
    }
  }
  std::string_view rest = corpus.whole;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    corpus.lines.push_back(rest.substr(0, end + 1));  // each line keeps its "\n", so lines add up to `whole`
    rest.remove_prefix(end + 1);
  }
  return corpus;
}

const Corpus& English() {
  static const Corpus* corpus = new Corpus(MakeCorpus(false));
  return *corpus;
}
const Corpus& Chinese() {
  static const Corpus* corpus = new Corpus(MakeCorpus(true));
  return *corpus;
}

std::string g_tokenizer_dir;

std::string FindTokenizerDir(const char* argv0) {
  if (!g_tokenizer_dir.empty()) return g_tokenizer_dir;
  // <build>/tools/tokenizer_bench -> <build>/fixtures/tokenizers/qwen3 (unpacked when tests are configured).
  std::error_code error;
  const fs::path exe = fs::canonical("/proc/self/exe", error);
  if (!error) {
    const fs::path built = exe.parent_path().parent_path() / "fixtures" / "tokenizers" / "qwen3";
    if (fs::exists(built / "tokenizer.json")) return built.string();
  }
  char temp[] = "/tmp/tessera_tokenizer_bench_XXXXXX";
  if (mkdtemp(temp) == nullptr) return "";
  const std::string command = std::string("tar -xJf '") + TESSERA_FIXTURES_DIR + "/tokenizers.tar.xz' -C '" + temp +
                              "' tokenizers/qwen3";
  if (std::system(command.c_str()) != 0) return "";
  return std::string(temp) + "/tokenizers/qwen3";
}

const tessera::Tokenizer* g_tokenizer = nullptr;

void EncodeWhole(benchmark::State& state, const Corpus& (*corpus)()) {
  const std::string& text = corpus().whole;
  size_t ids = 0;
  for (auto _ : state) {
    auto encoded = g_tokenizer->Encode(text, /*add_special_tokens=*/false);
    if (!encoded.ok()) {
      state.SkipWithError(std::string(encoded.status().message()).c_str());
      return;
    }
    ids = encoded->size();
    benchmark::DoNotOptimize(encoded->data());
  }
  const double bytes = static_cast<double>(text.size()) * static_cast<double>(state.iterations());
  state.counters["MB/s"] = benchmark::Counter(bytes / 1e6, benchmark::Counter::kIsRate);
  state.counters["input_MB"] = static_cast<double>(text.size()) / 1e6;
  state.counters["tokens"] = static_cast<double>(ids);
}

void EncodeLines(benchmark::State& state, const Corpus& (*corpus)()) {
  const Corpus& c = corpus();
  for (auto _ : state) {
    for (std::string_view line : c.lines) {
      auto encoded = g_tokenizer->Encode(line, /*add_special_tokens=*/false);
      if (!encoded.ok()) {
        state.SkipWithError(std::string(encoded.status().message()).c_str());
        return;
      }
      benchmark::DoNotOptimize(encoded->data());
    }
  }
  const double bytes = static_cast<double>(c.whole.size()) * static_cast<double>(state.iterations());
  state.counters["MB/s"] = benchmark::Counter(bytes / 1e6, benchmark::Counter::kIsRate);
  state.counters["calls"] = static_cast<double>(c.lines.size());
}

BENCHMARK_CAPTURE(EncodeWhole, english, &English)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(EncodeWhole, chinese, &Chinese)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(EncodeLines, english, &English)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(EncodeLines, chinese, &Chinese)->Unit(benchmark::kMillisecond)->MinTime(2.0);

bool DumpInputs(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  for (const auto& [name, corpus] : {std::pair{"english.txt", &English()}, std::pair{"chinese.txt", &Chinese()}}) {
    std::ofstream out(dir / name, std::ios::binary);
    out << corpus->whole;
    if (!out) return false;
  }
  return true;
}

// Takes our own --flag=value arguments out of argv before Google Benchmark sees them.
std::string TakeFlag(int* argc, char** argv, std::string_view name) {
  const std::string prefix = "--" + std::string(name) + "=";
  for (int i = 1; i < *argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      std::string value = argv[i] + prefix.size();
      for (int j = i; j + 1 < *argc; ++j) argv[j] = argv[j + 1];
      --*argc;
      return value;
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  g_tokenizer_dir = TakeFlag(&argc, argv, "tokenizer_dir");
  const std::string dump_dir = TakeFlag(&argc, argv, "dump_inputs");
  if (English().strings.empty() || Chinese().strings.empty()) {
    std::fprintf(stderr, "tokenizer_bench: no English or Chinese strings in %s/golden_text.json\n",
                 TESSERA_FIXTURES_DIR);
    return 1;
  }
  if (!dump_dir.empty()) {
    if (!DumpInputs(dump_dir)) {
      std::fprintf(stderr, "tokenizer_bench: cannot write inputs into %s\n", dump_dir.c_str());
      return 1;
    }
    std::printf("english.txt: %zu bytes, chinese.txt: %zu bytes in %s\n", English().whole.size(),
                Chinese().whole.size(), dump_dir.c_str());
    return 0;
  }

  const std::string dir = FindTokenizerDir(argv[0]);
  auto tokenizer = tessera::Tokenizer::FromFolder(dir);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "tokenizer_bench: cannot load the Qwen3 tokenizer from '%s': %s\n", dir.c_str(),
                 std::string(tokenizer.status().message()).c_str());
    return 1;
  }
  g_tokenizer = tokenizer->get();
  benchmark::AddCustomContext("tokenizer", dir);
  benchmark::AddCustomContext("english_bytes", std::to_string(English().whole.size()));
  benchmark::AddCustomContext("chinese_bytes", std::to_string(Chinese().whole.size()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
