// Mutual TLS for Ken's gRPC connections (nodes and the `ken cluster`
// commands), when the cluster config names a CA, a certificate and a key
// (docs/config.md, "TLS"). Identities are node ids: every node's
// certificate carries its id as a DNS subjectAltName; a client checks that
// the server's certificate names the node it dialed (whatever address it
// dialed), a server checks that a transmission's source node is named in
// the client's certificate. The cluster token stays a second factor.
// All functions may be called from any thread.
#ifndef KEN_BASE_TLS_H_
#define KEN_BASE_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ken {

// Paths of the PEM files (absolute); all empty when TLS is off.
struct TlsFiles {
  std::string ca;    // the CA certificate(s) that sign every node's certificate
  std::string cert;  // this side's certificate (chain)
  std::string key;   // its private key
  bool enabled() const { return !ca.empty(); }
};

// The PEM texts of the files.
struct TlsPem {
  std::string ca, cert, key;
  bool enabled() const { return !ca.empty(); }
};

// Reads the three files (each at most 1 MiB). An all-empty TlsFiles gives
// an all-empty TlsPem (TLS off). Errors (kNotFound / kInvalidArgument) name
// the file: unreadable, empty, or not PEM ("-----BEGIN"); a CA or
// certificate that is no X.509 certificate, a key that is no (unencrypted)
// private key, or a key that does not match the certificate
// (kInvalidArgument; OpenSSL's X509_check_private_key).
absl::StatusOr<TlsPem> ReadTls(const TlsFiles& files);

// Server credentials: insecure when TLS is off; otherwise TLS that requires
// and verifies a client certificate signed by `tls.ca`.
std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(const TlsPem& tls);

// Channel credentials: insecure when TLS is off; otherwise TLS with this
// side's certificate, verifying the server against `tls.ca`. With TLS on,
// `args` is set to expect `server_node_id` in the server's certificate
// (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG), so an address may be an IP or any
// name.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(const TlsPem& tls, const std::string& server_node_id,
                                                                grpc::ChannelArguments* args);

// The DNS subjectAltNames of the verified client certificate of a call
// (empty on an insecure connection).
std::vector<std::string> ClientCertificateNames(const grpc::ServerContext& context);

}  // namespace ken

#endif  // KEN_BASE_TLS_H_
