#include "proxy/accesslog/writer.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "proxy/accesslog/worker_log.h"

namespace strait::accesslog {
namespace {

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strait_accesslog_XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  static std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
      out.push_back(line);
    }
    return out;
  }

  std::string dir_;
};

TEST_F(WriterTest, LinesFromSeveralThreadsAreEachWrittenWhole) {
  constexpr int kThreads = 4;
  constexpr int kLines = 5000;
  std::string path = file("access.log");
  {
    Writer writer;
    std::string error;
    ASSERT_TRUE(writer.open(path, error)) << error;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&writer, t]() {
        // Lines of different lengths, each with its thread and sequence number.
        for (int i = 0; i < kLines; i++) {
          std::string line = "t" + std::to_string(t) + " " + std::to_string(i) + " " +
                             std::string(static_cast<size_t>(i % 300), 'x') + "\n";
          while (!writer.submit(line)) {
            std::this_thread::yield();  // the queue is small in this test; wait for room
          }
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    writer.flush();
    EXPECT_EQ(writer.writtenLines(), static_cast<uint64_t>(kThreads * kLines));
  }  // the destructor flushed and closed
  std::map<int, int> next;
  auto all = lines(path);
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kLines));
  for (const auto& line : all) {
    int t = 0;
    int i = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "t%d %d", &t, &i), 2) << line;
    std::string expected = "t" + std::to_string(t) + " " + std::to_string(i) + " " +
                           std::string(static_cast<size_t>(i % 300), 'x');
    ASSERT_EQ(line, expected);
    ASSERT_EQ(i, next[t]++) << "thread " << t << " out of order";  // one thread: in order
  }
}

TEST_F(WriterTest, FullQueueDropsAndCounts) {
  // The writer is pointed at a pipe nobody reads: once the pipe's buffer is full the thread
  // blocks in write(2), like a stalled disk, and the queue fills up behind it.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_GT(::fcntl(fds[1], F_SETPIPE_SZ, 4096), 0);  // a small pipe fills fast
  std::string fifo = "/proc/self/fd/" + std::to_string(fds[1]);
  Writer writer(4096);
  std::string error;
  ASSERT_TRUE(writer.open(fifo, error)) << error;
  std::string line(100, 'a');
  line.back() = '\n';
  uint64_t accepted = 0;
  uint64_t refused = 0;
  // Submitting never blocks: fill the queue until it refuses, and again, until the thread is
  // stuck in write(2) (a flush with a short deadline fails).
  bool stuck = false;
  auto start = std::chrono::steady_clock::now();
  while (!stuck && std::chrono::steady_clock::now() - start < std::chrono::seconds(30)) {
    while (writer.submit(line)) {
      accepted++;
    }
    refused++;
    stuck = !writer.flush(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(stuck);
  for (int i = 0; i < 1000; i++) {
    (writer.submit(line) ? accepted : refused)++;
  }
  EXPECT_GT(refused, 900u);  // the queue held at most 40 more lines
  EXPECT_EQ(writer.droppedLines(), refused);
  EXPECT_FALSE(writer.flush(std::chrono::milliseconds(50)));
  // Unblock the thread: drain the pipe until the writer has written everything it accepted.
  std::thread reader([&]() {
    char buf[65536];
    while (::read(fds[0], buf, sizeof(buf)) > 0) {
    }
  });
  EXPECT_TRUE(writer.flush());
  EXPECT_EQ(writer.writtenLines(), accepted);
  EXPECT_EQ(writer.writtenBytes(), accepted * line.size());
  writer.close();
  writer.flush();
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
}

TEST_F(WriterTest, ReopenSwitchesFilesAtALineBoundary) {
  std::string path = file("access.log");
  Writer writer;
  std::string error;
  ASSERT_TRUE(writer.open(path, error)) << error;
  for (int i = 0; i < 100; i++) {
    writer.submit("before " + std::to_string(i) + "\n");
  }
  // Rotation as logrotate does it: rename, then signal (here: call) the reopen.
  std::filesystem::rename(path, file("access.log.1"));
  ASSERT_TRUE(writer.reopen(error)) << error;
  for (int i = 0; i < 100; i++) {
    writer.submit("after " + std::to_string(i) + "\n");
  }
  writer.flush();
  auto old_lines = lines(file("access.log.1"));
  auto new_lines = lines(path);
  ASSERT_EQ(old_lines.size(), 100u);
  ASSERT_EQ(new_lines.size(), 100u);
  EXPECT_EQ(old_lines.front(), "before 0");
  EXPECT_EQ(old_lines.back(), "before 99");
  EXPECT_EQ(new_lines.front(), "after 0");
  EXPECT_EQ(new_lines.back(), "after 99");
  EXPECT_EQ(writer.reopens(), 1u);
}

TEST_F(WriterTest, ReopenUnderConcurrentWritersLosesNothing) {
  std::string path = file("access.log");
  Writer writer;
  std::string error;
  ASSERT_TRUE(writer.open(path, error)) << error;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> submitted{0};
  std::thread producer([&]() {
    for (int i = 0; !stop.load(); i++) {
      if (writer.submit("line " + std::to_string(i) + "\n")) {
        submitted++;
      }
    }
  });
  for (int r = 1; r <= 5; r++) {
    // Let lines land in each file: wait for the producer to get further, not for time.
    uint64_t target = submitted.load() + 1000;
    while (submitted.load() < target) {
      std::this_thread::yield();
    }
    std::filesystem::rename(path, file("access.log." + std::to_string(r)));
    ASSERT_TRUE(writer.reopen(error)) << error;
  }
  stop = true;
  producer.join();
  writer.flush();
  size_t total = lines(path).size();
  for (int r = 1; r <= 5; r++) {
    total += lines(file("access.log." + std::to_string(r))).size();
  }
  EXPECT_EQ(total, submitted.load());
  EXPECT_EQ(writer.writtenLines(), submitted.load());
}

TEST_F(WriterTest, OpenAppendsAndReportsErrors) {
  std::string path = file("access.log");
  std::ofstream(path) << "existing\n";
  Writer writer;
  std::string error;
  ASSERT_TRUE(writer.open(path, error));
  writer.submit("new\n");
  writer.flush();
  EXPECT_EQ(lines(path), (std::vector<std::string>{"existing", "new"}));
  EXPECT_FALSE(writer.open(file("missing/dir/access.log"), error));
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  writer.submit("still here\n");  // the old file stays in use
  writer.flush();
  EXPECT_EQ(lines(path).back(), "still here");
}

TEST_F(WriterTest, ReopenOfANonRegularFileIsANoOp) {
  Writer writer;
  std::string error;
  ASSERT_TRUE(writer.open("/dev/null", error)) << error;
  EXPECT_TRUE(writer.reopen(error));
  EXPECT_EQ(writer.reopens(), 0u);
  writer.submit("x\n");
  writer.flush();
  EXPECT_EQ(writer.writtenLines(), 1u);
}

TEST_F(WriterTest, WorkerLogFormatsAndQueues) {
  std::string path = file("access.log");
  Writer writer;
  std::string error;
  ASSERT_TRUE(writer.open(path, error));
  WorkerLog log(writer);
  Entry e;
  e.method = "GET";
  e.status = 200;
  log.log(Format::Json, e);
  log.log(Format::Text, e);
  writer.flush();
  auto all = lines(path);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].front(), '{');
  EXPECT_EQ(all[1].front(), '[');
}

}  // namespace
}  // namespace strait::accesslog
