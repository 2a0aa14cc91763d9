#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "proxy/upstream/dns_resolver.h"

namespace strait::upstream {
namespace {

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_storage out{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&out);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  inet_pton(AF_INET, ip, &sin->sin_addr);
  return out;
}

sockaddr_storage v6(const char* ip, uint16_t port) {
  sockaddr_storage out{};
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &sin6->sin6_addr);
  return out;
}

// A getaddrinfo-style list over `storage` (ports 0, as getaddrinfo gives without a service).
std::vector<addrinfo> chain(std::vector<sockaddr_storage>& storage) {
  std::vector<addrinfo> list(storage.size());
  for (size_t i = 0; i < storage.size(); i++) {
    list[i].ai_family = storage[i].ss_family;
    list[i].ai_addr = reinterpret_cast<sockaddr*>(&storage[i]);
    list[i].ai_addrlen =
        storage[i].ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    list[i].ai_next = i + 1 < storage.size() ? &list[i + 1] : nullptr;
  }
  return list;
}

TEST(DnsAddressesTest, NormalizeSortsAndDeduplicates) {
  AddressList a{v4("10.0.0.2", 80), v4("10.0.0.1", 80), v4("10.0.0.2", 80)};
  AddressList b{v4("10.0.0.1", 80), v4("10.0.0.2", 80)};
  normalizeAddresses(a);
  normalizeAddresses(b);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_TRUE(sameAddresses(a, b));
  AddressList c{v4("10.0.0.1", 81), v4("10.0.0.2", 80)};
  normalizeAddresses(c);
  EXPECT_FALSE(sameAddresses(a, c));
}

TEST(DnsAddressesTest, PrefersIpv4AndSetsPort) {
  std::vector<sockaddr_storage> storage{v6("::1", 0), v4("127.0.0.1", 0), v4("127.0.0.1", 0)};
  auto list = chain(storage);
  AddressList out = addressesFromAddrinfo(list.data(), 8080);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(sameAddresses(out, AddressList{v4("127.0.0.1", 8080)}));
}

TEST(DnsAddressesTest, FallsBackToIpv6) {
  std::vector<sockaddr_storage> storage{v6("::1", 0)};
  auto list = chain(storage);
  AddressList out = addressesFromAddrinfo(list.data(), 9);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(sameAddresses(out, AddressList{v6("::1", 9)}));
}

TEST(DnsAddressesTest, EmptyAnswerIsEmpty) {
  EXPECT_TRUE(addressesFromAddrinfo(nullptr, 80).empty());
}

}  // namespace
}  // namespace strait::upstream
