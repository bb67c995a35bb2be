//===- Subprocess.cpp - Running the toolchain's programs ----------------===//
#include "codegen/Subprocess.h"

#include <cstdlib>
#include <filesystem>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace lfm2c {

namespace fs = std::filesystem;

Status runCommand(const std::vector<std::string> &argv) {
  std::vector<char *> cargv;
  for (const std::string &a : argv) {
    cargv.push_back(const_cast<char *>(a.c_str()));
  }
  cargv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ) !=
      0) {
    return Status::error("cannot run '" + argv[0] + "'");
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const std::string &a : argv) {
      cmd += (cmd.empty() ? "" : " ") + a;
    }
    return Status::error("command failed: " + cmd);
  }
  return Status::ok();
}

std::string findExecutable(const std::string &program) {
  if (program.find('/') != std::string::npos) {
    return access(program.c_str(), X_OK) == 0 ? program : "";
  }
  const char *path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) {
      end = dirs.size();
    }
    std::string dir = dirs.substr(begin, end - begin);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) {
      return candidate;
    }
    begin = end + 1;
  }
  return "";
}

} // namespace lfm2c
