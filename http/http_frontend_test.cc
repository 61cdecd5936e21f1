// HttpFrontend's lifecycle: Stop() right after Start() returns, and a
// started front end answers at once.
#include "http/http_frontend.h"

#include <httplib.h>

#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

v1::HttpResponse Answer(v1::HttpRequest request) {
  v1::HttpResponse r;
  r.set_status(200);
  r.set_body("path " + request.path());
  return r;
}

// cpp-httplib ignores stop() until its listening loop has begun; Start()
// must not return before that, or this loop hangs on the first unlucky
// iteration (the test's timeout fails it).
TEST(HttpFrontendTest, StopRightAfterStartReturns) {
  for (int i = 0; i < 300; ++i) {
    HttpOptions options;
    options.address = "127.0.0.1:" + std::to_string(testing::FreePort());
    absl::StatusOr<std::unique_ptr<HttpFrontend>> frontend = HttpFrontend::Start(options, Answer);
    ASSERT_TRUE(frontend.ok()) << frontend.status();
    (*frontend)->Stop();
  }
}

TEST(HttpFrontendTest, AnswersAsSoonAsStarted) {
  const int port = testing::FreePort();
  HttpOptions options;
  options.address = "127.0.0.1:" + std::to_string(port);
  absl::StatusOr<std::unique_ptr<HttpFrontend>> frontend = HttpFrontend::Start(options, Answer);
  ASSERT_TRUE(frontend.ok()) << frontend.status();
  httplib::Client client("127.0.0.1", port);
  httplib::Result res = client.Get("/x");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "path /x");
}

}  // namespace
}  // namespace ken
