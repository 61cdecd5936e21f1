// The HTTP handler of a real `ken run` node under concurrent clients and
// kill -9: every response reflects committed state.
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"

namespace ken {
namespace {

using ::ken::testing::TestCluster;

constexpr char kCounter[] = R"js(
var counter = 0;
var marks = 0;
var handleRequest = function (request, response) {
  if (request.uri === "/counter") {
    response.statusCode = 200;
    response.body = "Counter: " + (counter++);
  } else if (request.path === "/throw") {
    counter += 1000;
    throw new Error("handler failed");
  } else if (request.path === "/loop") {
    counter += 1000;
    while (true) {}
  } else if (request.path === "/echo") {
    response.headers["X-Echo"] = "yes";
    response.body = { method: request.method, path: request.path, query: request.query, body: request.body,
                      header: request.headers["x-test"] };
  } else if (request.path === "/badheader") {
    counter += 1000;
    response.headers["a b"] = "c";
  } else if (request.path === "/nocontent") {
    response.statusCode = 204;
    response.body = "ignored";
  } else if (request.path === "/len") {
    response.body = request.body.length + " " + request.headers["content-type"];
  } else if (request.path === "/async") {
    Promise.resolve(41).then(function (v) { response.body = "async " + (v + 1); });
  } else if (request.path === "/params") {
    response.body = { params: request.params, nullPrototype: Object.getPrototypeOf(request.params) === null,
                      query: request.query };
  } else if (request.path === "/headers") {
    response.body = request.headers;
  } else if (request.path === "/null") {
    response.body = null;
  } else if (request.path === "/crlf") {
    counter += 1000;
    response.headers["x-bad"] = "a\r\nInjected: yes";
  } else if (request.path === "/reject") {
    return (async function () { marks += 1; await null; throw new Error("promise rejected"); })();
  } else if (request.path === "/reject-later") {
    marks += 10;
    return new Promise(function (resolve, reject) {
      setTimeout(function () { marks += 100; reject(new Error("rejected later")); }, 10);
    });
  } else if (request.path === "/marks") {
    response.body = "marks " + marks;
  } else {
    response.statusCode = 404;
    response.body = "no such page";
  }
};
)js";

// What a raw TCP exchange got: the bytes read, and whether the server
// closed the connection (end of input) within the time allowed.
struct RawAnswer {
  std::string data;
  bool closed = false;
};

// Sends `request` as is on a new connection to `port`, half-closes the
// connection after it if `half_close`, and reads until the server closes or
// `timeout_ms` pass.
RawAnswer RawExchange(int port, const std::string& request, bool half_close, int timeout_ms = 5000) {
  RawAnswer answer;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return answer;
  }
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return answer;
  }
  if (half_close) shutdown(fd, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
      answer.closed = true;
      break;
    }
    answer.data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return answer;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The error id of a Ken 500 body ("... (error id 1a2b3c4d)").
std::string ErrorId(const std::string& body) {
  size_t at = body.find("error id ");
  return at == std::string::npos ? "" : body.substr(at + 9, 8);
}

class HttpTest : public ::testing::Test {
 protected:
  HttpTest() : cluster_("cli/ken", {{"web", kCounter}}), http_port_(::ken::testing::FreePort()) {}

  void StartNode(std::vector<std::string> args = {"--turn-timeout", "500ms"}) {
    // The http address comes from --http (the config has none).
    args.push_back("--http");
    args.push_back("127.0.0.1:" + std::to_string(http_port_));
    cluster_.Start("web", {}, args);
    for (int i = 0; i < 200; ++i) {
      httplib::Client c("127.0.0.1", http_port_);
      if (c.Get("/ping")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "node did not serve HTTP: " << cluster_.Output("web");
  }

  // GET /counter from `clients` threads, `each` requests per thread with
  // keep-alive. Returns the counter values seen (successful responses only).
  std::vector<int> Load(int clients, int each, std::atomic<bool>* stop = nullptr) {
    std::mutex mu;
    std::vector<int> seen;
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&] {
        httplib::Client c("127.0.0.1", http_port_);
        c.set_keep_alive(true);
        for (int i = 0; i < each && !(stop && *stop); ++i) {
          auto res = c.Get("/counter");
          if (!res || res->status != 200) continue;
          int v = std::stoi(res->body.substr(strlen("Counter: ")));
          std::lock_guard<std::mutex> l(mu);
          seen.push_back(v);
        }
      });
    }
    for (auto& t : threads) t.join();
    return seen;
  }

  int Counter() {
    httplib::Client c("127.0.0.1", http_port_);
    auto res = c.Get("/counter");
    return res && res->status == 200 ? std::stoi(res->body.substr(strlen("Counter: "))) : -1;
  }

  TestCluster cluster_;
  int http_port_;
};

TEST_F(HttpTest, ConcurrentClientsSeeDistinctConsecutiveValues) {
  StartNode();
  std::vector<int> seen = Load(64, 40);
  ASSERT_EQ(seen.size(), 64u * 40u);
  std::sort(seen.begin(), seen.end());
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], static_cast<int>(i));
}

TEST_F(HttpTest, Kill9DuringLoadNeverRepeatsASeenValue) {
  StartNode();
  int max_seen = -1;
  std::set<int> all;
  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> stop{false};
    std::vector<int> seen;
    std::thread load([&] { seen = Load(64, 1000000, &stop); });
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    cluster_.Kill("web", SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
    load.join();
    ASSERT_FALSE(seen.empty());
    for (int v : seen) {
      EXPECT_TRUE(all.insert(v).second) << "value " << v << " was answered twice";
      max_seen = std::max(max_seen, v);
    }
    StartNode();
    int next = Counter();
    EXPECT_GT(next, max_seen) << "the counter went back after kill -9";
    all.insert(next);
    max_seen = std::max(max_seen, next);
  }
}

TEST_F(HttpTest, ThrowingAndLoopingHandlersRollBack) {
  StartNode();
  EXPECT_EQ(Counter(), 0);
  httplib::Client c("127.0.0.1", http_port_);
  auto thrown = c.Get("/throw");
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
  EXPECT_NE(thrown->body.find("error id "), std::string::npos) << thrown->body;
  auto looped = c.Get("/loop");
  ASSERT_TRUE(looped);
  EXPECT_EQ(looped->status, 503);
  EXPECT_EQ(Counter(), 1);  // neither +1000 survived
  // The error id leads to the details in the log.
  std::string id = thrown->body.substr(thrown->body.find("error id ") + 9, 8);
  int code;
  cluster_.Exited("web", &code);
  EXPECT_NE(cluster_.Output("web").find("http error " + id + ": Uncaught Error: handler failed"), std::string::npos)
      << cluster_.Output("web");
  EXPECT_FALSE(cluster_.Exited("web", &code));
}

TEST_F(HttpTest, RequestAndResponseShape) {
  StartNode();
  httplib::Client c("127.0.0.1", http_port_);
  auto echo = c.Post("/echo?a=1&b=2", httplib::Headers{{"X-Test", "hi"}}, "payload", "text/plain");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->status, 200);
  EXPECT_EQ(echo->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(echo->get_header_value("x-echo"), "yes");
  EXPECT_EQ(echo->body, R"({"method":"POST","path":"/echo","query":"a=1&b=2","body":"payload","header":"hi"})");
  // A header name that is not an HTTP token is the handler's error: 500,
  // rolled back (the +1000 did not stay); a 204 is sent without content.
  auto bad = c.Get("/badheader");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 500);
  auto nocontent = c.Get("/nocontent");
  ASSERT_TRUE(nocontent);
  EXPECT_EQ(nocontent->status, 204);
  EXPECT_EQ(nocontent->body, "");
  auto missing = c.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "no such page");
  auto async = c.Get("/async");
  ASSERT_TRUE(async);
  EXPECT_EQ(async->body, "async 42");
  auto big = c.Post("/echo", std::string(2 << 20, 'x'), "text/plain");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  // Bodies reach the handler as sent, whatever their Content-Type (the HTTP
  // library would cap forms at 8 KiB and swallow multipart bodies).
  auto form = c.Post("/len", std::string(100000, 'f'), "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->body, "100000 application/x-www-form-urlencoded");
  const std::string multipart = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n--b--\r\n";
  auto parts = c.Post("/len", multipart, "multipart/form-data; boundary=b");
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->body, std::to_string(multipart.size()) + " multipart/form-data; boundary=b");
  // A malformed request gets 400; the node keeps serving.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(http_port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string garbage = "THIS IS NOT HTTP\r\n\r\n";
  ASSERT_EQ(write(fd, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  char buf[64] = {0};
  ASSERT_GT(read(fd, buf, sizeof(buf) - 1), 0);
  close(fd);
  EXPECT_EQ(std::string(buf).substr(0, 12), "HTTP/1.1 400") << buf;
  EXPECT_EQ(Counter(), 0);
}

// A client that shuts down its sending side after the request (nc -N)
// still gets the response of the turn that ran for it: before, the library
// took the connection for dead and the committed turn went unanswered.
TEST_F(HttpTest, HalfClosedClientGetsItsResponse) {
  StartNode();
  RawAnswer get = RawExchange(http_port_, "GET /counter HTTP/1.1\r\nHost: x\r\n\r\n", true);
  EXPECT_EQ(get.data.substr(0, 12), "HTTP/1.1 200") << get.data;
  EXPECT_TRUE(Contains(get.data, "Counter: 0")) << get.data;
  EXPECT_TRUE(get.closed);
  // A body with neither Content-Length nor chunks ends where the client
  // half-closes.
  RawAnswer post = RawExchange(http_port_, "POST /len HTTP/1.1\r\nHost: x\r\n\r\nfive!", true);
  EXPECT_EQ(post.data.substr(0, 12), "HTTP/1.1 200") << post.data;
  EXPECT_TRUE(Contains(post.data, "\r\n\r\n5 undefined")) << post.data;
  EXPECT_TRUE(post.closed);
  EXPECT_EQ(Counter(), 1);
}

// Malformed heads the library used to take leniently (a line without a
// colon was dropped, Content-Length -1 read as 2^64-1) get 400 with the
// reason, are never run, are logged, and their connection is closed: the
// request pipelined after them gets no answer.
TEST_F(HttpTest, MalformedHeadsGet400AndCloseTheConnection) {
  StartNode();
  struct Case {
    std::string head, reason;
  };
  const std::vector<Case> cases = {
      {"POST /counter HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nabc",
       "Content-Length '-1' is not a number of bytes"},
      {"GET /counter HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", "a header line has no colon: 'NoColonHere'"},
      {"GET /counter HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", "a header line is not ended by CRLF"},
      {"GET /counter HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "obsolete line folding"},
      {"GET /counter HTTP/1.1\r\nHost : x\r\n\r\n", "header name 'Host ' is not a token"},
      {"POST /counter HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
       "Content-Length fields that disagree"},
      {"GARBAGE\r\nHost: x\r\n\r\n", "malformed request line or header (request line 'GARBAGE')"},
  };
  const std::string next = "GET /counter HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.head);
    RawAnswer answer = RawExchange(http_port_, c.head + next, false);
    EXPECT_EQ(answer.data.substr(0, 12), "HTTP/1.1 400") << answer.data;
    EXPECT_TRUE(Contains(answer.data, "Connection: close")) << answer.data;
    EXPECT_TRUE(Contains(answer.data, "\r\n\r\nBad Request: ")) << answer.data;
    EXPECT_TRUE(Contains(answer.data, c.reason)) << answer.data;
    EXPECT_FALSE(Contains(answer.data, "Counter:")) << "the request after a 400 was served: " << answer.data;
    EXPECT_TRUE(answer.closed) << "the connection stayed open after a 400";
    EXPECT_TRUE(cluster_.WaitForOutput("web", "http: 400 Bad Request to 127.0.0.1:", 5));
    EXPECT_TRUE(cluster_.WaitForOutput("web", c.reason, 5)) << cluster_.Output("web");
  }
  EXPECT_EQ(Counter(), 0);  // none of them ran
}

// Header values reach the handler as sent: not percent-decoded, an empty
// one kept.
TEST_F(HttpTest, HeaderValuesArriveAsSent) {
  StartNode();
  RawAnswer answer =
      RawExchange(http_port_, "GET /headers HTTP/1.1\r\nHost: x\r\nX-Enc:  %41b \r\nX-Empty:\r\nConnection: close\r\n\r\n",
                  false);
  EXPECT_EQ(answer.data.substr(0, 12), "HTTP/1.1 200") << answer.data;
  EXPECT_TRUE(Contains(answer.data, R"("x-enc":"%41b","x-empty":"")")) << answer.data;
}

// Bytes that are not UTF-8 (a Latin-1 header value, a raw byte in the
// query) reach the handler as U+FFFD, and the turn that saw them is
// recorded so that the node restarts from it after kill -9 (the journal's
// records once held them in proto3 `string` fields, which refuse to decode
// invalid UTF-8: the store could not be opened again).
TEST_F(HttpTest, NonUtf8BytesInARequestSurviveARestart) {
  StartNode();
  RawAnswer answer = RawExchange(
      http_port_, "GET /headers?q=\xff HTTP/1.1\r\nHost: x\r\nX-Latin: caf\xe9\r\nConnection: close\r\n\r\n", false);
  EXPECT_EQ(answer.data.substr(0, 12), "HTTP/1.1 200") << answer.data;
  EXPECT_TRUE(Contains(answer.data, "\"x-latin\":\"caf\xEF\xBF\xBD\"")) << answer.data;
  const int before = Counter();
  ASSERT_GE(before, 0);
  cluster_.Kill("web", SIGKILL);
  StartNode();
  EXPECT_EQ(Counter(), before + 1) << cluster_.Output("web");
}

// A header value with CR/LF set by the handler is never sent: 500 with an
// error id, the error in the log, the turn rolled back.
TEST_F(HttpTest, HandlerHeaderWithCrLfIs500AndLogged) {
  StartNode();
  RawAnswer answer = RawExchange(http_port_, "GET /crlf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false);
  EXPECT_EQ(answer.data.substr(0, 12), "HTTP/1.1 500") << answer.data;
  EXPECT_FALSE(Contains(answer.data, "Injected")) << answer.data;
  const std::string id = ErrorId(answer.data);
  ASSERT_EQ(id.size(), 8u) << answer.data;
  EXPECT_TRUE(cluster_.WaitForOutput(
      "web", "http error " + id + ": Uncaught TypeError: response header 'x-bad' has a CR, LF or NUL in its value", 5))
      << cluster_.Output("web");
  EXPECT_EQ(Counter(), 0);  // the +1000 was rolled back
}

// request.params: the query decoded as a form (+ is a space, percent
// escapes, a malformed one kept), a repeated name as an array, a null
// prototype; request.query stays the raw text.
TEST_F(HttpTest, RequestParamsDecodeTheQuery) {
  StartNode();
  // Sent raw: the library's client would rewrite the target ('+' as %2B).
  RawAnswer params = RawExchange(
      http_port_, "GET /params?tag=a&tag=b&q=x+y%21&bad=100%&e&toString=%E2%82%AC HTTP/1.1\r\nHost: x\r\n\r\n", true);
  EXPECT_TRUE(Contains(params.data,
                       R"({"params":{"tag":["a","b"],"q":"x y!","bad":"100%","e":"","toString":"€"},)"
                       R"("nullPrototype":true,"query":"tag=a&tag=b&q=x+y%21&bad=100%&e&toString=%E2%82%AC"})"))
      << params.data;
  httplib::Client c("127.0.0.1", http_port_);
  auto none = c.Get("/params");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->body, R"({"params":{},"nullPrototype":true,"query":""})");
}

// response.body = null sends an empty body (docs/api.md), not "null".
TEST_F(HttpTest, NullBodyIsEmpty) {
  StartNode();
  httplib::Client c("127.0.0.1", http_port_);
  auto r = c.Get("/null");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; charset=utf-8");
}

// A handler whose promise rejects answers 500 with an error id and a log
// line with the error and its stack; a rejection is not an abort: the turn
// commits (in the same turn or a later one).
TEST_F(HttpTest, RejectedPromiseIs500AndCommits) {
  StartNode();
  httplib::Client c("127.0.0.1", http_port_);
  for (const std::string path : {"/reject", "/reject-later"}) {
    SCOPED_TRACE(path);
    auto r = c.Get(path.c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    const std::string id = ErrorId(r->body);
    ASSERT_EQ(id.size(), 8u) << r->body;
    const std::string message = path == "/reject" ? "promise rejected" : "rejected later";
    EXPECT_TRUE(cluster_.WaitForOutput("web", "http error " + id + ": Uncaught Error: " + message + "\n    at ", 5))
        << cluster_.Output("web");
  }
  auto marks = c.Get("/marks");
  ASSERT_TRUE(marks);
  EXPECT_EQ(marks->body, "marks 111");
}

// http_max_body_bytes (top level or per node) bounds every body, also
// chunked ones, which carry no Content-Length.
TEST(HttpBodyLimitTest, ConfiguredLimitHoldsForEveryEncoding) {
  TestCluster cluster("cli/ken", {{"web", kCounter}}, "http_max_body_bytes: 4096\n");
  const int port = ::ken::testing::FreePort();
  cluster.Start("web", {}, {"--http", "127.0.0.1:" + std::to_string(port)});
  httplib::Client c("127.0.0.1", port);
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    up = static_cast<bool>(c.Get("/ping"));
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(up) << cluster.Output("web");
  auto fits = c.Post("/len", std::string(4000, 'x'), "application/x-www-form-urlencoded");
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->body, "4000 application/x-www-form-urlencoded");
  auto over = c.Post("/len", std::string(5000, 'x'), "text/plain");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 413);
  const std::string chunk(5000, 'c');
  auto chunked = c.Post(
      "/len",
      [&](size_t offset, httplib::DataSink& sink) {
        if (offset == 0) sink.write(chunk.data(), chunk.size());
        sink.done();
        return true;
      },
      "text/plain");
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 413) << chunked->body;
  EXPECT_NE(chunked->body.find("http_max_body_bytes"), std::string::npos) << chunked->body;
}

// A request answered with an error must never take effect afterwards:
// requests still queued when the answer timeout passes get 503 "not run"
// and are dropped; one whose turn had started gets 503 "outcome unknown"
// only after twice the timeout (its turn runs to its own end).
TEST_F(HttpTest, RequestNotStartedInTimeIsAnsweredNotRunAndNeverRuns) {
  StartNode({"--turn-timeout", "1500ms", "--answer-timeout", "300ms"});
  EXPECT_EQ(Counter(), 0);
  // An answer: status and the Ken-Outcome header (0 if no response).
  struct Answer {
    int status = 0;
    std::string outcome, body;
  };
  auto get = [&](const std::string& path) {
    httplib::Client c("127.0.0.1", http_port_);
    c.set_read_timeout(10);
    Answer a;
    if (auto r = c.Get(path.c_str())) {
      a.status = r->status;
      a.outcome = r->get_header_value("Ken-Outcome");
      a.body = r->body;
    }
    return a;
  };
  Answer slow;
  std::thread busy([&] { slow = get("/loop"); });  // holds the turn loop for 1.5 s
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  std::vector<Answer> queued(3);
  std::vector<std::thread> clients;
  for (auto& r : queued) clients.emplace_back([&] { r = get("/counter"); });
  absl::StatusOr<v1::EvalReply> eval;
  clients.emplace_back([&] { eval = cluster_.Eval("web", "counter += 100"); });
  for (auto& t : clients) t.join();
  busy.join();
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_FALSE(eval->ok());
  EXPECT_NE(eval->error().find("it was not run and will not be"), std::string::npos) << eval->error();
  for (const Answer& r : queued) {
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.outcome, "not-run") << r.body;
  }
  EXPECT_EQ(slow.status, 503);
  EXPECT_EQ(slow.outcome, "unknown") << slow.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the loop's turn has ended
  EXPECT_EQ(Counter(), 1);  // none of the four ran, before or after their answer
}

// The output gate: a response is sent only once its turn's commit is
// durable. Killed just before the commit, the request leaves no trace;
// killed after the commit but before the release, it took effect but its
// client never got an answer (never an answer for a commit that is lost).
TEST_F(HttpTest, NoResponseLeavesBeforeItsCommitIsDurable) {
  StartNode();
  EXPECT_EQ(Counter(), 0);  // counter is 1
  for (const std::string point : {"before_commit", "before_release"}) {
    SCOPED_TRACE(point);
    cluster_.Start("web", {"KEN_CRASH_AT=" + point},
                   {"--http", "127.0.0.1:" + std::to_string(http_port_), "--turn-timeout", "500ms"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    httplib::Client c("127.0.0.1", http_port_);
    c.set_read_timeout(10);
    int status = 0;
    for (int i = 0; i < 50 && status == 0; ++i) {
      auto r = c.Get("/counter");
      if (r) {
        status = r->status;
        break;
      }
      int code;
      if (cluster_.Exited("web", &code)) break;  // crashed at the point: the request got no answer
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(status, 0) << "a response was sent from a commit that crashed";
    int code = 0;
    for (int i = 0; i < 100 && !cluster_.Exited("web", &code); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(code, 86) << cluster_.Output("web");
    StartNode();
  }
  // before_commit: not applied; before_release: applied (durable) but unanswered.
  EXPECT_EQ(Counter(), 2);
}

}  // namespace
}  // namespace ken
