#include <map>

#include "strait/http/filter.h"

namespace strait::http {

namespace {

std::map<std::string, FilterFactoryBuilder, std::less<>>& factoryRegistry() {
  static std::map<std::string, FilterFactoryBuilder, std::less<>> registry;
  return registry;
}

}  // namespace

void registerFilterFactory(std::string name, FilterFactoryBuilder builder) {
  factoryRegistry()[std::move(name)] = std::move(builder);
}

const FilterFactoryBuilder* findFilterFactory(std::string_view name) {
  auto it = factoryRegistry().find(name);
  return it == factoryRegistry().end() ? nullptr : &it->second;
}

}  // namespace strait::http
