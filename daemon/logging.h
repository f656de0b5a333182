// daemon/logging.h — spdlog to stderr (journald keeps it), as text or JSON lines,
// written in batches (one write per loop turn, not per line).
//
// JSON lines are built with rapidjson's Writer (one object per line: ts, level, msg),
// so a message with quotes or newlines can never break a log shipper's parser.
#pragma once

#include <string>

namespace runwayd {

// Installs the default logger, or (called again, as by a reload) sets its level and
// format in place: other threads may log meanwhile. Lines below warn are batched in
// memory: the loop's owner must call FlushLogs() before the loop blocks (and before exit).
void SetupLogging(const std::string& level, const std::string& format);

// Writes out the lines waiting in memory. Cheap when none wait.
void FlushLogs();

}  // namespace runwayd
