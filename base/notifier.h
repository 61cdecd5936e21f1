// Wakes a waiting thread; any thread may Notify.
#ifndef KEN_BASE_NOTIFIER_H_
#define KEN_BASE_NOTIFIER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace ken {

class Notifier {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> l(mu_);
      notified_ = true;
    }
    cv_.notify_all();
  }
  // Waits until notified or `timeout_ms` passes; clears the notification.
  void Wait(int64_t timeout_ms) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return notified_; });
    notified_ = false;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

}  // namespace ken

#endif  // KEN_BASE_NOTIFIER_H_
