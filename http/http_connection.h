// Ken's handling of one HTTP connection, in place of cpp-httplib's own
// (its Server::process_and_close_socket, a virtual the library lets a
// subclass replace; the request parsing stays the library's).
//
// Why: the library's socket stream refuses to write a response once the
// client has shut down its sending side (shutdown(SHUT_WR), `nc -N`): it
// sees the end of input and takes the connection for dead, so a request
// whose turn had committed went unanswered. Here the response is written
// whatever the client's sending side does; only a failed send loses it.
// The stream also records each request's head as sent (request_head.h
// checks it), and a response may ask for the connection to be closed after
// it (after a 400 the rest of the bytes cannot be trusted to start a
// request).
//
// Threading: each connection is served by one thread of the server's pool
// from accept to close; Current() is that thread's connection.
#ifndef KEN_HTTP_HTTP_CONNECTION_H_
#define KEN_HTTP_HTTP_CONNECTION_H_

#include <httplib.h>

#include <atomic>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace ken {

// One accepted socket as an httplib::Stream: buffered reads with the read
// timeout, writes that wait (up to the write timeout) for room and send it
// all.
class HttpConnection : public httplib::Stream {
 public:
  HttpConnection(int sock, time_t read_timeout_sec, time_t write_timeout_sec);

  // The connection the calling thread serves (nullptr outside one).
  static HttpConnection* Current();

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return sock_; }

  // Waits up to `timeout_sec` for the next request's first byte; false on
  // timeout, error, or once `server_socket` is INVALID_SOCKET (the server
  // stops; checked every 100 ms).
  bool WaitForRequest(time_t timeout_sec, const std::atomic<int>& server_socket);

  // Called before each request: starts recording its head.
  void BeginRequest();
  // The head of the current request as read so far: the request line and
  // header lines through the empty line that ends them (or what came of
  // them before the library stopped reading, e.g. at a malformed request
  // line). At most kMaxHeadBytes; head_overflowed() if there was more.
  const std::string& head() const { return head_; }
  bool head_complete() const { return head_complete_; }
  bool head_overflowed() const { return head_overflowed_; }
  static constexpr size_t kMaxHeadBytes = 256 << 10;

  // The current request's header fields as the front end parsed them.
  std::vector<std::pair<std::string, std::string>>& fields() { return fields_; }

  // The node (not the library or the front end's checks) made the current
  // request's response.
  void MarkAnsweredByNode() { answered_by_node_ = true; }
  bool answered_by_node() const { return answered_by_node_; }

  // After the response now being written, close the connection (lingering:
  // the rest of the client's bytes are read and dropped for up to a second,
  // so that closing with them unread does not reset the connection before
  // the client has read the response).
  void CloseAfterResponse() { close_after_response_ = true; }
  bool close_after_response() const { return close_after_response_; }

 private:
  void Record(const char* data, size_t n);

  int sock_;
  time_t read_timeout_sec_;
  time_t write_timeout_sec_;
  std::vector<char> buffer_;
  size_t buffer_begin_ = 0;
  size_t buffer_end_ = 0;
  std::string head_;
  size_t line_start_ = 0;
  bool recording_ = false;
  bool head_complete_ = false;
  bool head_overflowed_ = false;
  bool close_after_response_ = false;
  bool answered_by_node_ = false;
  std::vector<std::pair<std::string, std::string>> fields_;
};

// cpp-httplib's server with connections served by HttpConnection.
class HttpServer : public httplib::Server {
 private:
  bool process_and_close_socket(int sock) override;
};

}  // namespace ken

#endif  // KEN_HTTP_HTTP_CONNECTION_H_
