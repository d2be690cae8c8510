#include "common/hub/file_digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tessera::hub {
namespace {

struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

std::string ToHex(const unsigned char* bytes, unsigned int length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kDigits[bytes[i] >> 4]);
    hex.push_back(kDigits[bytes[i] & 0xf]);
  }
  return hex;
}

// Digests `prefix` followed by the file's bytes.
absl::StatusOr<std::string> DigestFile(const EVP_MD* algorithm, const std::string& path, bool git_blob_header) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  DigestContext context(EVP_MD_CTX_new());
  if (!context || EVP_DigestInit_ex(context.get(), algorithm, nullptr) != 1)
    return absl::InternalError("OpenSSL digest initialisation failed");
  if (git_blob_header) {
    if (std::fseek(file.get(), 0, SEEK_END) != 0) return absl::InternalError(absl::StrCat("cannot seek ", path));
    const long size = std::ftell(file.get());
    std::rewind(file.get());
    const std::string header = absl::StrCat("blob ", size);
    EVP_DigestUpdate(context.get(), header.data(), header.size() + 1);  // includes the terminating NUL
  }
  std::vector<char> buffer(1 << 20);
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    EVP_DigestUpdate(context.get(), buffer.data(), n);
  }
  if (std::ferror(file.get())) return absl::InternalError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest, &length);
  return ToHex(digest, length);
}

}  // namespace

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return ToHex(digest, length);
}

absl::StatusOr<std::string> FileSha256Hex(const std::string& path) { return DigestFile(EVP_sha256(), path, false); }

absl::StatusOr<std::string> FileGitBlobSha1Hex(const std::string& path) {
  return DigestFile(EVP_sha1(), path, true);
}

}  // namespace tessera::hub
