// daemon/logging.h — spdlog to stderr (journald keeps it), as text or JSON lines.
//
// JSON lines are built with rapidjson's Writer (one object per line: ts, level, msg),
// so a message with quotes or newlines can never break a log shipper's parser.
#pragma once

#include <string>

namespace runwayd {

void SetupLogging(const std::string& level, const std::string& format);

}  // namespace runwayd
