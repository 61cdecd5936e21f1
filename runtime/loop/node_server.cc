#include "runtime/loop/node_server.h"

#include <unistd.h>

#include <chrono>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/turn/dispatcher.h"
#include "spdlog/spdlog.h"
#include "store/checkpoint_store.h"

namespace ken {

NodeServer::NodeServer(Node& node, TurnLoop& loop, NodeServerOptions options)
    : node_(node), loop_(loop), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<NodeServer>> NodeServer::Start(Node& node, TurnLoop& loop, NodeServerOptions options) {
  std::unique_ptr<NodeServer> server(new NodeServer(node, loop, std::move(options)));
  NodeServer* self = server.get();
  TransportOptions transport;
  transport.listen_address = self->options_.listen_address;
  transport.token = self->options_.token;
  transport.max_message_bytes = self->options_.max_message_bytes;
  transport.tls = self->options_.tls;
  transport.health_address = self->options_.health_address;
  absl::StatusOr<std::unique_ptr<TransportServer>> started = TransportServer::Start(
      transport, node.channels(), [self] { self->loop_.Wake(); }, [self] { return self->Status(); },
      [self](const std::string& source) { return self->SubmitEval(source); });
  if (!started.ok()) return started.status();
  server->server_ = std::move(*started);
  server->senders_ = std::make_unique<PeerSenders>(node.channels(), self->options_.peers, self->options_.token,
                                                   self->options_.max_message_bytes, self->options_.tls);
  server->durability_ = node.durability();
  server->OnCommit();
  if (absl::StatusOr<size_t> used = node.isolate().UsedHeapBytes(); used.ok()) server->heap_bytes_ = *used;
  return server;
}

NodeServer::~NodeServer() { Shutdown(); }

void NodeServer::Shutdown() {
  if (server_) server_->Shutdown();
  senders_.reset();
}

void NodeServer::OnCommit() {
  last_checkpoint_ = node_.checkpoint_seq();
  turns_ = node_.state().turns();
  dead_letters_ = node_.state().dead_letter_count();
  if (node_.isolate().last_snapshot_heap_bytes() > 0) heap_bytes_ = node_.isolate().last_snapshot_heap_bytes();
  if (node_.durability() == "journal") {
    // No snapshot at commit: ask the live isolate (this is the turn thread).
    if (absl::StatusOr<size_t> used = node_.isolate().UsedHeapBytes(); used.ok()) heap_bytes_ = *used;
    Snapshotter::Stats st = node_.snapshotter_stats();
    std::lock_guard<std::mutex> lock(snapshotter_mu_);
    snapshot_checkpoint_ = st.written_seq;
    snapshotter_error_ = st.last_error;
  }
  if (senders_) senders_->Wake();
}

void NodeServer::OnUnhandledRejection(const std::string& input, const std::string& text) {
  ++unhandled_rejections_;
  spdlog::warn("unhandled promise rejection in {} (the turn committed): {}", input, text);
}

v1::StatusReply NodeServer::Status() {
  Channels* channels = node_.channels();
  v1::StatusReply reply;
  reply.set_node_id(channels->self());
  reply.set_incarnation(channels->incarnation());
  reply.set_pid(getpid());
  reply.set_last_committed_checkpoint(last_checkpoint_);
  reply.set_turns(turns_);
  reply.set_dead_letters(dead_letters_);
  reply.set_unhandled_rejections(unhandled_rejections_);
  reply.set_heap_used_bytes(heap_bytes_);
  reply.set_store_bytes(Node::StoreDiskBytes(node_.store().path()));
  reply.set_durability(durability_);
  {
    std::lock_guard<std::mutex> lock(snapshotter_mu_);
    reply.set_snapshot_checkpoint(snapshot_checkpoint_);
    reply.set_snapshotter_error(snapshotter_error_);
  }
  reply.set_restarts(options_.restarts);
  reply.set_unacked_total(channels->UnackedTotal());
  for (v1::ChannelStatus& c : channels->Status()) *reply.add_channels() = std::move(c);
  return reply;
}

template <typename Answer>
Answer NodeServer::SubmitAndWait(v1::TurnInput record, std::function<Answer(const TurnResult&)> convert,
                                 std::function<Answer(const std::string& why)> failed) {
  auto promise = std::make_shared<std::promise<Answer>>();
  std::future<Answer> future = promise->get_future();
  auto input = std::make_shared<LoopInput>();
  const uint64_t reply_id = record.reply_id();
  input->record = std::move(record);
  input->done = [promise, convert](const TurnResult& r) { promise->set_value(convert(r)); };
  const std::string what = input->record.has_eval() ? "the eval" : "the request";
  if (!loop_.Submit(input)) return failed(absl::StrCat("the node is stopping; ", what, " was not run"));
  const auto timeout = std::chrono::milliseconds(options_.answer_timeout_ms);
  if (future.wait_for(timeout) == std::future_status::ready) return future.get();
  if (input->claim.Abandon()) {
    return failed(absl::StrCat("the node did not start ", what, " within ", options_.answer_timeout_ms,
                               " ms; it was not run and will not be"));
  }
  // Its turn has started: the answer comes after its commit (or, for a
  // reply a later turn completes, after that turn's).
  if (future.wait_for(timeout) == std::future_status::ready) return future.get();
  if (reply_id != 0) loop_.Abandon(reply_id);
  return failed(absl::StrCat("the node started ", what, " but has not answered; its outcome is unknown"));
}

v1::HttpResponse NodeServer::SubmitHttp(v1::HttpRequest request) {
  v1::TurnInput record = HttpRecord(std::move(request), loop_.NewReplyId());
  return SubmitAndWait<v1::HttpResponse>(
      std::move(record), [](const TurnResult& r) { return HttpResponseFor(r); },
      [](const std::string& why) {
        v1::HttpResponse response;
        response.set_status(503);
        v1::HttpHeader* h = response.add_headers();
        h->set_name("ken-outcome");
        h->set_value(why.find("outcome is unknown") != std::string::npos ? "unknown" : "not-run");
        response.set_body(why + "\n");
        return response;
      });
}

v1::EvalReply NodeServer::SubmitEval(const std::string& source) {
  return SubmitAndWait<v1::EvalReply>(
      EvalRecord(source, loop_.NewReplyId()),
      [](const TurnResult& r) {
        // At most 1 MiB of the value or error goes back (an admin client
        // refuses replies over 4 MiB, and the eval has run).
        auto cut = [](std::string text) {
          constexpr size_t kMax = 1 << 20;
          if (text.size() > kMax) text = absl::StrCat(text.substr(0, kMax), "... (", text.size() - kMax, " more bytes)");
          return text;
        };
        v1::EvalReply reply;
        reply.set_ok(r.ok());
        if (r.ok()) {
          reply.set_result(cut(DecodeOutput(r).value()));
        } else {
          reply.set_error(cut(r.error));
        }
        return reply;
      },
      [](const std::string& why) {
        v1::EvalReply reply;
        reply.set_error(why);
        return reply;
      });
}

}  // namespace ken
