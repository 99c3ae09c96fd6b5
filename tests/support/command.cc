#include "tests/support/command.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace sluice::testing {
namespace {

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out.append("'\\''");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TMPDIR");
  std::string name = prefix;
  name.append("-").append(std::to_string(getpid())).append("-");
  name.append(std::to_string(counter.fetch_add(1)));
  std::filesystem::path dir = std::filesystem::path(base != nullptr ? base : "/tmp") / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

CommandResult RunCommand(const std::vector<std::string>& args, const std::string& stdin_path) {
  const std::string dir = MakeTempDir("command");
  const std::string out_path = dir + "/stdout";
  const std::string err_path = dir + "/stderr";
  std::string command;
  for (const std::string& arg : args) command.append(ShellQuote(arg)).append(" ");
  command.append("<").append(ShellQuote(stdin_path.empty() ? "/dev/null" : stdin_path));
  command.append(" >").append(ShellQuote(out_path)).append(" 2>").append(ShellQuote(err_path));
  const int status = std::system(command.c_str());
  CommandResult result;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  result.stdout_text = ReadFile(out_path);
  result.stderr_text = ReadFile(err_path);
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace sluice::testing
