#pragma once

// Small file and time helpers of the main thread (config watch, TLS watch, admin output).

#include <chrono>
#include <string>

namespace strait::server {

// The whole file, or "" when it cannot be read.
std::string readFile(const std::string& path);
// "2026-12-06T04:15:53Z"
std::string isoTime(std::chrono::system_clock::time_point t);

}  // namespace strait::server
