// `straitctl certs`: a development PKI with the openssl command line tool (as
// certs/make-dev-certs.sh, which makes a fixed set for the tests and takes no trust domain or
// workloads): a CA for the trust domain and one SPIFFE workload certificate per --workload.
//
//   DIR/ca.pem, DIR/ca.key       the trust domain's CA (kept when both are there already, so
//                                workloads can be added later under the same CA)
//   DIR/<ns>.<sa>.pem, .key      URI SAN spiffe://<trust-domain>/ns/<ns>/sa/<sa>, EKU serverAuth
//                                and clientAuth, signed by the CA (a namespace holds no dot, so
//                                the first dot splits the name)
//
// Keys are EC P-256, mode 0600.

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ctl/commands.h"

extern char** environ;

namespace strait::ctl {

namespace {

const char* kUsage =
    "usage: straitctl certs --out DIR [--trust-domain example.org] [--workload ns/sa ...]\n";

struct Workload {
  std::string ns;
  std::string sa;
};

// Names go into openssl's extension file and the file names: lower-case DNS-style only.
bool plainName(const std::string& text) {
  return !text.empty() &&
         text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string::npos;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Runs openssl with `args`; its stderr goes to `log`, shown when it fails.
bool openssl(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& arg : argv) {
    raw.push_back(arg.data());
  }
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "openssl", &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  if (rc != 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    std::cerr << "straitctl: openssl " << args[0] << " failed"
              << (rc != 0 ? " to start (is openssl installed?)" : "") << ":\n"
              << text.str();
    return false;
  }
  return true;
}

bool newKey(const std::string& path, const std::string& log) {
  if (!openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path},
               log)) {
    return false;
  }
  ::chmod(path.c_str(), 0600);
  return true;
}

bool makeCa(const std::string& out, const std::string& domain, const std::string& log) {
  std::string key = out + "/ca.key";
  std::string pem = out + "/ca.pem";
  if (exists(key) && exists(pem)) {
    std::cout << pem << ": kept (the CA is there already)\n";
    return true;
  }
  if (!newKey(key, log) || !openssl({"req", "-new", "-x509", "-key", key, "-out", pem, "-days",
                                     "3650", "-subj", "/O=Strait dev/CN=" + domain + " CA",
                                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                                     "keyUsage=critical,keyCertSign,cRLSign"},
                                    log)) {
    return false;
  }
  std::cout << pem << ": CA for " << domain << "\n";
  return true;
}

bool makeWorkload(const std::string& out, const std::string& domain, const Workload& w,
                  const std::string& work) {
  std::string log = work + "/openssl.log";
  std::string name = out + "/" + w.ns + "." + w.sa;
  std::string uri = "spiffe://" + domain + "/ns/" + w.ns + "/sa/" + w.sa;
  std::string ext = work + "/" + w.ns + "." + w.sa + ".ext";
  std::string csr = work + "/" + w.ns + "." + w.sa + ".csr";
  {
    std::ofstream file(ext);
    file << "basicConstraints=critical,CA:FALSE\n"
         << "keyUsage=critical,digitalSignature,keyEncipherment\n"
         << "extendedKeyUsage=serverAuth,clientAuth\n"
         << "subjectAltName=URI:" << uri << "\n"
         << "subjectKeyIdentifier=hash\n"
         << "authorityKeyIdentifier=keyid\n";
  }
  if (!newKey(name + ".key", log) ||
      !openssl(
          {"req", "-new", "-key", name + ".key", "-subj", "/O=Strait dev/CN=" + w.sa, "-out", csr},
          log) ||
      !openssl({"x509", "-req", "-in", csr, "-CA", out + "/ca.pem", "-CAkey", out + "/ca.key",
                "-CAcreateserial", "-CAserial", work + "/ca.srl", "-days", "825", "-extfile", ext,
                "-out", name + ".pem"},
               log)) {
    return false;
  }
  std::cout << name << ".pem: " << uri << "\n";
  return true;
}

}  // namespace

int runCerts(const Args& args) {
  std::string out;
  std::string domain = "example.org";
  std::vector<Workload> workloads;
  for (size_t i = 0; i < args.size(); ++i) {
    bool has_value = i + 1 < args.size();
    if (args[i] == "--out" && has_value) {
      out = args[++i];
    } else if (args[i] == "--trust-domain" && has_value) {
      domain = args[++i];
    } else if (args[i] == "--workload" && has_value) {
      const std::string& text = args[++i];
      size_t slash = text.find('/');
      Workload w{text.substr(0, slash), slash == std::string::npos ? "" : text.substr(slash + 1)};
      if (!plainName(w.ns) || w.ns.find('.') != std::string::npos || !plainName(w.sa)) {
        std::cerr << "straitctl: --workload " << text
                  << ": expected NAMESPACE/SERVICEACCOUNT (lower-case letters, digits, '-'; "
                     "'.' in the service account only)\n";
        return kExitUsage;
      }
      workloads.push_back(w);
    } else {
      std::cerr << kUsage;
      return kExitUsage;
    }
  }
  if (out.empty() || !plainName(domain)) {
    std::cerr << (out.empty() ? "straitctl: --out DIR is required\n"
                              : "straitctl: --trust-domain: lower-case DNS name expected\n")
              << kUsage;
    return kExitUsage;
  }
  if (!exists(out) && ::mkdir(out.c_str(), 0755) != 0) {
    std::perror(("straitctl: mkdir " + out).c_str());
    return 1;
  }
  char work_template[] = "/tmp/straitctl-certs-XXXXXX";
  if (::mkdtemp(work_template) == nullptr) {
    std::perror("straitctl: mkdtemp");
    return 1;
  }
  std::string work = work_template;
  bool ok = makeCa(out, domain, work + "/openssl.log");
  for (size_t i = 0; ok && i < workloads.size(); ++i) {
    ok = makeWorkload(out, domain, workloads[i], work);
  }
  // The CSRs, extension files, serial file and log are not kept.
  for (const char* name : {"/openssl.log", "/ca.srl"}) {
    ::unlink((work + name).c_str());
  }
  for (const Workload& w : workloads) {
    ::unlink((work + "/" + w.ns + "." + w.sa + ".ext").c_str());
    ::unlink((work + "/" + w.ns + "." + w.sa + ".csr").c_str());
  }
  ::rmdir(work.c_str());
  return ok ? 0 : 1;
}

}  // namespace strait::ctl
