#pragma once

// strait-cp's status page (GET /status from a browser): plain HTML and a little JavaScript, no
// build step and no external assets. It fetches /status?format=json every two seconds and shows
// the proxies by group with their sync state per type, the latest NACK errors, the source errors
// and refusals, and the convergence histogram.

#include <string_view>

namespace strait::cp {

std::string_view statusPageHtml();

}  // namespace strait::cp
