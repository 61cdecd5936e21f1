#include "base/tls.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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
