// daemon/logging.cc — see logging.h.
#include "daemon/logging.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <mutex>

namespace runwayd {
namespace {

// Formats a whole record as one JSON object per line.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                      rapidjson::kWriteValidateEncodingFlag>
        w(sb);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    w.StartObject();
    w.Key("ts_ms");
    w.Int64(ms);
    w.Key("level");
    auto lv = spdlog::level::to_string_view(msg.level);
    w.String(lv.data(), static_cast<rapidjson::SizeType>(lv.size()));
    w.Key("msg");
    if (!w.String(msg.payload.data(), static_cast<rapidjson::SizeType>(msg.payload.size()))) {
      // Invalid UTF-8 in the message: keep the line valid rather than lose it.
      w.String("<message with invalid UTF-8>");
    }
    w.EndObject();
    dest.append(sb.GetString(), sb.GetString() + sb.GetSize());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// stderr, one write(2) per batch of lines instead of one per line: with a line per job
// at info level, that write was one syscall per job (a fifth of them, in `intake`).
// Lines wait in memory only until the loop is about to block (FlushLogs, from a
// uv_prepare_t), until 64 KB are waiting, or until a warning or worse is logged, which
// goes out at once with everything before it. Lines are never split or reordered; a
// process killed by a signal loses at most the lines of the loop turn it died in.
class BatchedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  ~BatchedStderrSink() override { flush_(); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    buf_.append(line.data(), line.data() + line.size());
    if (buf_.size() >= kMaxWaiting) flush_();
  }
  void flush_() override {
    size_t off = 0;
    while (off < buf_.size()) {
      ssize_t n = ::write(STDERR_FILENO, buf_.data() + off, buf_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stderr gone or full: drop the batch rather than block the loop
      off += static_cast<size_t>(n);
    }
    buf_.clear();
  }

 private:
  static constexpr size_t kMaxWaiting = 64 << 10;
  spdlog::memory_buf_t buf_;
};

}  // namespace

void FlushLogs() {
  if (auto* logger = spdlog::default_logger_raw()) logger->flush();
}

// Made once; a reload changes it in place. Replacing the default logger would free the
// old one while another thread (the metrics endpoint's) may be logging through the raw
// pointer spdlog's free functions use, and would drop the lines its sink held. The
// formatter and the level are safe to change under a logging thread (the sink's mutex,
// an atomic).
void SetupLogging(const std::string& level, const std::string& format) {
  static std::shared_ptr<spdlog::logger> logger;  // first call: main(), before any thread
  const bool first = logger == nullptr;
  if (first) logger = std::make_shared<spdlog::logger>("runwayd", std::make_shared<BatchedStderrSink>());
  if (format == "json") logger->set_formatter(std::make_unique<JsonFormatter>());
  else logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  if (!first) return;
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace runwayd
