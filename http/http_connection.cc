#include "http/http_connection.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>

namespace ken {
namespace {

thread_local HttpConnection* current_connection = nullptr;

// poll() for `events` up to `timeout_ms`, retried on EINTR: > 0 ready, 0 timeout, < 0 error.
int PollFor(int sock, short events, int timeout_ms) {
  struct pollfd p = {sock, events, 0};
  int r;
  do {
    r = poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r;
}

int Millis(time_t sec) { return static_cast<int>(std::min<time_t>(sec, 24 * 3600) * 1000); }

void NumericAddress(const struct sockaddr_storage& addr, socklen_t len, std::string& ip, int& port) {
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const struct sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

// Shuts down our sending side, then reads and drops what the client still
// sends, until it closes or for up to 1 s (at most 1 MiB), and closes.
void LingeringClose(int sock) {
  shutdown(sock, SHUT_WR);
  char drop[16 << 10];
  size_t dropped = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline && dropped < (1 << 20)) {
    if (PollFor(sock, POLLIN, 100) == 0) continue;
    const ssize_t n = recv(sock, drop, sizeof(drop), 0);
    if (n <= 0) break;
    dropped += static_cast<size_t>(n);
  }
  close(sock);
}

}  // namespace

HttpConnection::HttpConnection(int sock, time_t read_timeout_sec, time_t write_timeout_sec)
    : sock_(sock), read_timeout_sec_(read_timeout_sec), write_timeout_sec_(write_timeout_sec), buffer_(16 << 10) {}

HttpConnection* HttpConnection::Current() { return current_connection; }

bool HttpConnection::is_readable() const {
  return buffer_begin_ < buffer_end_ || PollFor(sock_, POLLIN, Millis(read_timeout_sec_)) > 0;
}

// Unlike the library's stream, not also "is the peer still sending?": a
// client that has shut down its sending side still reads the response.
bool HttpConnection::is_writable() const { return PollFor(sock_, POLLOUT, Millis(write_timeout_sec_)) > 0; }

ssize_t HttpConnection::read(char* ptr, size_t size) {
  if (buffer_begin_ == buffer_end_) {
    if (PollFor(sock_, POLLIN, Millis(read_timeout_sec_)) <= 0) return -1;
    ssize_t n;
    do {
      n = recv(sock_, buffer_.data(), buffer_.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
    buffer_begin_ = 0;
    buffer_end_ = static_cast<size_t>(n);
  }
  const size_t n = std::min(size, buffer_end_ - buffer_begin_);
  std::memcpy(ptr, buffer_.data() + buffer_begin_, n);
  buffer_begin_ += n;
  if (recording_) Record(ptr, n);
  return static_cast<ssize_t>(n);
}

ssize_t HttpConnection::write(const char* ptr, size_t size) {
  size_t sent = 0;
  while (sent < size) {
    if (!is_writable()) return -1;
    const ssize_t n = send(sock_, ptr + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    sent += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(size);
}

void HttpConnection::get_remote_ip_and_port(std::string& ip, int& port) const {
  struct sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  if (getpeername(sock_, reinterpret_cast<struct sockaddr*>(&addr), &len) == 0) NumericAddress(addr, len, ip, port);
}

void HttpConnection::get_local_ip_and_port(std::string& ip, int& port) const {
  struct sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  if (getsockname(sock_, reinterpret_cast<struct sockaddr*>(&addr), &len) == 0) NumericAddress(addr, len, ip, port);
}

bool HttpConnection::WaitForRequest(time_t timeout_sec, const std::atomic<int>& server_socket) {
  if (buffer_begin_ < buffer_end_) return true;  // a pipelined request
  for (int waited = 0; waited <= Millis(timeout_sec); waited += 100) {
    if (server_socket == INVALID_SOCKET) return false;  // the server stops
    const int r = PollFor(sock_, POLLIN, 100);
    if (r != 0) return r > 0;
  }
  return false;
}

void HttpConnection::BeginRequest() {
  head_.clear();
  line_start_ = 0;
  recording_ = true;
  head_complete_ = false;
  head_overflowed_ = false;
  answered_by_node_ = false;
  fields_.clear();
}

// The library reads the head a byte at a time (its line reader), and the
// body only after the head: so recording stops at the head's end exactly.
void HttpConnection::Record(const char* data, size_t n) {
  for (size_t i = 0; i < n && recording_; ++i) {
    if (head_.size() >= kMaxHeadBytes) {
      head_overflowed_ = true;
      recording_ = false;
      break;
    }
    head_ += data[i];
    if (data[i] != '\n') continue;
    // A line after the request line that is just CRLF ends the head (as
    // it does for the library).
    const bool ends_head = line_start_ > 0 && head_.size() - line_start_ == 2 && head_[line_start_] == '\r';
    line_start_ = head_.size();
    if (ends_head) {
      head_complete_ = true;
      recording_ = false;
    }
  }
}

bool HttpServer::process_and_close_socket(int sock) {
  HttpConnection connection(sock, read_timeout_sec_, write_timeout_sec_);
  current_connection = &connection;
  // The library's loop (detail::process_server_socket_core), with this
  // stream, and ending after a response that asked for it.
  bool ret = false;
  for (size_t left = keep_alive_max_count_; left > 0; --left) {
    if (svr_sock_ == INVALID_SOCKET || !connection.WaitForRequest(keep_alive_timeout_sec_, svr_sock_)) break;
    bool connection_closed = false;
    connection.BeginRequest();
    ret = process_request(connection, left == 1, connection_closed, nullptr);
    if (!ret || connection_closed || connection.close_after_response()) break;
  }
  current_connection = nullptr;
  if (connection.close_after_response()) {
    LingeringClose(sock);
  } else {
    shutdown(sock, SHUT_RDWR);
    close(sock);
  }
  return ret;
}

}  // namespace ken
