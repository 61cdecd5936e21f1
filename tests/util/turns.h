// Test helpers: the turn inputs of runtime/turn/dispatcher.h under short
// names, with plain structs for HTTP (tests build requests by field).
#ifndef KEN_TESTS_UTIL_TURNS_H_
#define KEN_TESTS_UTIL_TURNS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "proto/ken.pb.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"

namespace ken::testing {

struct HttpRequest {
  std::string method, uri, path, query;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

inline TurnInput ScriptInput(const std::string& path, const std::string& source) {
  return MakeTurn(ProgramRecord(path, source));
}
inline TurnInput DeliveryInput(const v1::Envelope& e) { return MakeTurn(DeliveryRecord(e)); }
inline TurnInput TimerInput(int64_t id, int64_t due_ms) { return MakeTurn(TimerRecord(id, due_ms)); }
// An admin eval; its output is a serialized v1::TurnOutput (see EvalValue).
inline TurnInput EvalInput(const std::string& source) { return MakeTurn(EvalRecord(source, 0)); }
inline std::string EvalValue(const TurnResult& r) { return DecodeOutput(r).value(); }

inline TurnInput HttpInput(const HttpRequest& request, uint64_t reply_id = 0) {
  v1::HttpRequest r;
  r.set_method(request.method);
  r.set_uri(request.uri);
  r.set_path(request.path);
  r.set_query(request.query);
  for (const auto& [name, value] : request.headers) {
    v1::HttpHeader* h = r.add_headers();
    h->set_name(name);
    h->set_value(value);
  }
  r.set_body(request.body);
  return MakeTurn(HttpRecord(std::move(r), reply_id));
}

inline HttpResponse ToHttpResponse(const TurnResult& result) {
  v1::HttpResponse r = HttpResponseFor(result);
  HttpResponse out;
  out.status = r.status();
  for (const v1::HttpHeader& h : r.headers()) out.headers.emplace_back(h.name(), h.value());
  out.body = r.body();
  return out;
}

// The observation after a batch (runtime/turn/dispatcher.h, ObserveBody),
// as a body (for Evaluate) and as an input (for RunBatch's `observe`).
inline PersistentIsolate::TurnBody UpcomingTimersBody(int max) { return ObserveBody(max); }
inline TurnInput UpcomingTimersInput(int max) { return MakeTurn(ObserveRecord(max)); }
inline std::vector<std::pair<int64_t, int64_t>> ParseUpcomingTimers(const std::string& observation) {
  v1::BatchObservation o;
  std::vector<std::pair<int64_t, int64_t>> out;
  if (!o.ParseFromString(observation)) return out;
  for (const auto& t : o.upcoming()) out.emplace_back(t.id(), t.due_ms());
  return out;
}

}  // namespace ken::testing

#endif  // KEN_TESTS_UTIL_TURNS_H_
