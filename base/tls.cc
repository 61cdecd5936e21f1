#include "base/tls.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"

namespace ken {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read the TLS ", what, " ", path, " (", strerror(errno), ")"));
  }
  if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("the TLS ", what, " ", path, " is not a regular file of at most 1 MiB"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the TLS ", what, " ", path, " (", strerror(errno), ")"));
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("the TLS ", what, " ", path, " is not a PEM file"));
  }
  return text.str();
}

}  // namespace

namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Bio Memory(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
}

// What gRPC would find only at the first handshake (and then only as a
// refused connection), found when the files are read: a CA or certificate
// that is not a PEM certificate, a key that is not a PEM private key, or a
// key that is not the certificate's (X509_check_private_key).
absl::Status CheckPem(const TlsPem& pem, const TlsFiles& files) {
  X509Ptr ca(PEM_read_bio_X509(Memory(pem.ca).get(), nullptr, nullptr, nullptr), X509_free);
  if (ca == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("TLS CA ", files.ca, " holds no PEM certificate"));
  }
  X509Ptr cert(PEM_read_bio_X509(Memory(pem.cert).get(), nullptr, nullptr, nullptr), X509_free);
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("TLS certificate ", files.cert, " holds no PEM certificate"));
  }
  // No passphrase (OpenSSL's default callback would ask the terminal for one).
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  Key key(PEM_read_bio_PrivateKey(Memory(pem.key).get(), nullptr, no_passphrase, nullptr), EVP_PKEY_free);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key ", files.key, " holds no PEM private key (or an encrypted one, which Ken cannot use)"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("TLS key ", files.key, " is not the key of the certificate ", files.cert));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TlsPem> ReadTls(const TlsFiles& files) {
  TlsPem pem;
  if (files.ca.empty() && files.cert.empty() && files.key.empty()) return pem;
  for (auto [path, what, out] : {std::tuple<const std::string&, const char*, std::string*>{files.ca, "CA", &pem.ca},
                                 {files.cert, "certificate", &pem.cert},
                                 {files.key, "key", &pem.key}}) {
    if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("TLS needs a CA, a certificate and a key; no ", what, " given"));
    absl::StatusOr<std::string> text = ReadPem(path, what);
    if (!text.ok()) return text.status();
    *out = std::move(*text);
  }
  if (absl::Status s = CheckPem(pem, files); !s.ok()) return s;
  return pem;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const TlsPem& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls.ca;
  options.pem_key_cert_pairs.push_back({tls.key, tls.cert});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(const TlsPem& tls, const std::string& server_node_id,
                                                                grpc::ChannelArguments* args) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.ca;
  options.pem_private_key = tls.key;
  options.pem_cert_chain = tls.cert;
  if (!server_node_id.empty()) args->SetSslTargetNameOverride(server_node_id);
  return grpc::SslCredentials(options);
}

std::vector<std::string> ClientCertificateNames(const grpc::ServerContext& context) {
  std::vector<std::string> names;
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return names;
  for (const grpc::string_ref& name : auth->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
    names.emplace_back(name.data(), name.size());
  }
  return names;
}

}  // namespace ken
