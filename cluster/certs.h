// Test certificates for mutual TLS between nodes (`ken cluster certs`,
// docs/config.md "TLS"): a CA and, per node id, a certificate naming the id
// as a DNS subjectAltName (what base/tls.h checks), made with OpenSSL's
// libcrypto (EC P-256 keys, SHA-256 signatures, X.509 v3). For local trials
// and tests; a production cluster's certificates come from its own CA.
#ifndef KEN_CLUSTER_CERTS_H_
#define KEN_CLUSTER_CERTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ken {

// A certificate and its private key, PEM.
struct CertificatePem {
  std::string cert;
  std::string key;
};

// Validity, in seconds relative to now (negative: in the past).
struct Validity {
  int64_t not_before_s = -3600;
  int64_t not_after_s = 825LL * 24 * 3600;  // 825 days
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign).
// Errors: kInternal with OpenSSL's reason.
absl::StatusOr<CertificatePem> MakeCa(const std::string& common_name, const Validity& validity = {});

// A certificate signed by `ca` whose subjectAltNames are `names` (IPv4/IPv6
// literals as IP entries, the rest as DNS entries) and whose common name is
// names[0]; usable as TLS server and client (extendedKeyUsage). Errors:
// kInvalidArgument (no names, an unreadable CA), kInternal (OpenSSL).
absl::StatusOr<CertificatePem> MakeCertificate(const CertificatePem& ca, const std::vector<std::string>& names,
                                               const Validity& validity = {});

}  // namespace ken

#endif  // KEN_CLUSTER_CERTS_H_
