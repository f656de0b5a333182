// daemon/logging.cc — see logging.h.
#include "daemon/logging.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

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

}  // namespace

void SetupLogging(const std::string& level, const std::string& format) {
  auto logger = std::make_shared<spdlog::logger>("runwayd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == "json") logger->set_formatter(std::make_unique<JsonFormatter>());
  else logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace runwayd
