//===- Chat.cpp -----------------------------------------------------------===//
#include "runtime/Chat.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstring>

namespace lfm2c::rt {
namespace {

constexpr std::string_view kCallStart = "<|tool_call_start|>";
constexpr std::string_view kCallEnd = "<|tool_call_end|>";

std::string renderMessage(const ChatMessage &m) {
  std::string content = m.content;
  if (m.role == "tool") {
    content = "<|tool_response_start|>" + content + "<|tool_response_end|>";
  }
  return "<|im_start|>" + m.role + "\n" + content + "<|im_end|>\n";
}

// A recursive-descent reader of the Python literals LFM2 writes as tool
// arguments (strings, numbers, True/False/None, lists, dicts), producing
// JSON values.
class PyLiteralParser {
public:
  explicit PyLiteralParser(std::string_view s) : s_(s) {}

  Status error(const std::string &what) const {
    return Status::error("tool call: " + what + " at offset " +
                         std::to_string(i_) + " of '" + std::string(s_) + "'");
  }
  void skipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) {
      ++i_;
    }
  }
  bool eat(char c) {
    skipSpace();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool atEnd() {
    skipSpace();
    return i_ >= s_.size();
  }
  std::string identifier() {
    skipSpace();
    size_t start = i_;
    while (i_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' ||
            s_[i_] == '.' || s_[i_] == '-')) {
      ++i_;
    }
    return std::string(s_.substr(start, i_ - start));
  }

  Status value(nlohmann::json &out) {
    skipSpace();
    if (i_ >= s_.size()) {
      return error("expected a value");
    }
    char c = s_[i_];
    if (c == '"' || c == '\'') {
      std::string str;
      if (Status st = string(str); !st) {
        return st;
      }
      out = str;
      return Status::ok();
    }
    if (c == '[' || c == '(') {
      char close = c == '[' ? ']' : ')';
      ++i_;
      out = nlohmann::json::array();
      if (eat(close)) {
        return Status::ok();
      }
      do {
        nlohmann::json item;
        if (Status st = value(item); !st) {
          return st;
        }
        out.push_back(item);
      } while (eat(','));
      return eat(close) ? Status::ok()
                        : error(std::string("expected '") + close + "'");
    }
    if (c == '{') {
      ++i_;
      out = nlohmann::json::object();
      if (eat('}')) {
        return Status::ok();
      }
      do {
        nlohmann::json key, val;
        if (Status st = value(key); !st) {
          return st;
        }
        if (!key.is_string()) {
          key = key.dump();
        }
        if (!eat(':')) {
          return error("expected ':' in a dict");
        }
        if (Status st = value(val); !st) {
          return st;
        }
        out[key.get<std::string>()] = val;
      } while (eat(','));
      return eat('}') ? Status::ok() : error("expected '}'");
    }
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = i_++;
      while (i_ < s_.size() &&
             (std::isdigit(static_cast<unsigned char>(s_[i_])) ||
              std::strchr(".eE+-", s_[i_]))) {
        ++i_;
      }
      std::string num(s_.substr(start, i_ - start));
      try {
        size_t used = 0;
        if (num.find_first_of(".eE") == std::string::npos) {
          long long v = std::stoll(num, &used);
          out = v;
        } else {
          double v = std::stod(num, &used);
          out = v;
        }
        if (used != num.size()) {
          return error("bad number '" + num + "'");
        }
      } catch (const std::exception &) {
        return error("bad number '" + num + "'");
      }
      return Status::ok();
    }
    std::string word = identifier();
    if (word == "True" || word == "true") {
      out = true;
    } else if (word == "False" || word == "false") {
      out = false;
    } else if (word == "None" || word == "null") {
      out = nullptr;
    } else {
      return error("unexpected '" + (word.empty() ? std::string(1, c) : word) +
                   "'");
    }
    return Status::ok();
  }

  Status string(std::string &out) {
    const char quote = s_[i_++];
    while (i_ < s_.size() && s_[i_] != quote) {
      char c = s_[i_++];
      if (c == '\\' && i_ < s_.size()) {
        char e = s_[i_++];
        switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        default:
          out += e;
        }
      } else {
        out += c;
      }
    }
    if (i_ >= s_.size()) {
      return error("unterminated string");
    }
    ++i_;
    return Status::ok();
  }

  // [name(arg=value, ...), ...]
  Status callList(std::vector<ToolCall> &calls) {
    if (!eat('[')) {
      return error("expected '[' opening the call list");
    }
    if (eat(']')) {
      return Status::ok();
    }
    do {
      ToolCall call;
      call.name = identifier();
      if (call.name.empty()) {
        return error("expected a function name");
      }
      if (!eat('(')) {
        return error("expected '(' after '" + call.name + "'");
      }
      nlohmann::json args = nlohmann::json::object();
      if (!eat(')')) {
        do {
          std::string key = identifier();
          if (key.empty() || !eat('=')) {
            return error("expected name=value");
          }
          nlohmann::json v;
          if (Status st = value(v); !st) {
            return st;
          }
          args[key] = v;
        } while (eat(','));
        if (!eat(')')) {
          return error("expected ')' closing '" + call.name + "('");
        }
      }
      call.argumentsJson = args.dump();
      calls.push_back(std::move(call));
    } while (eat(','));
    if (!eat(']')) {
      return error("expected ']' closing the call list");
    }
    return atEnd() ? Status::ok() : error("unexpected text after the calls");
  }

private:
  std::string_view s_;
  size_t i_ = 0;
};

Status parseJsonCalls(std::string_view body, std::vector<ToolCall> &calls) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return Status::error("tool call: neither a Python call list nor JSON: '" +
                         std::string(body) + "'");
  }
  if (j.is_object()) {
    j = nlohmann::json::array({j});
  }
  for (const auto &c : j) {
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string()) {
      return Status::error("tool call: JSON call without a \"name\": " +
                           c.dump());
    }
    ToolCall call;
    call.name = c["name"].get<std::string>();
    nlohmann::json args = c.value("arguments", nlohmann::json::object());
    if (args.is_string()) {
      args = nlohmann::json::parse(args.get<std::string>(), nullptr, false);
    }
    call.argumentsJson = args.dump();
    calls.push_back(std::move(call));
  }
  return Status::ok();
}

} // namespace

std::string renderChat(const std::vector<ChatMessage> &messages,
                       const std::vector<std::string> &toolsJson,
                       bool addGenerationPrompt, const std::string &bos) {
  std::string out = bos;
  size_t first = 0;
  std::string system;
  if (!messages.empty() && messages[0].role == "system") {
    system = messages[0].content;
    first = 1;
  }
  if (!toolsJson.empty()) {
    system += (system.empty() ? "" : "\n");
    system += "List of tools: <|tool_list_start|>[";
    for (size_t i = 0; i < toolsJson.size(); ++i) {
      system += (i ? ", " : "") + toolsJson[i];
    }
    system += "]<|tool_list_end|>";
  }
  if (!system.empty()) {
    out += "<|im_start|>system\n" + system + "<|im_end|>\n";
  }
  for (size_t i = first; i < messages.size(); ++i) {
    out += renderMessage(messages[i]);
  }
  if (addGenerationPrompt) {
    out += "<|im_start|>assistant\n";
  }
  return out;
}

std::string renderContinuation(const std::vector<ChatMessage> &next) {
  std::string out = "<|im_end|>\n";
  for (const ChatMessage &m : next) {
    out += renderMessage(m);
  }
  return out + "<|im_start|>assistant\n";
}

StatusOr<std::vector<ToolCall>> parseToolCalls(std::string_view text) {
  std::vector<ToolCall> calls;
  size_t pos = 0;
  while ((pos = text.find(kCallStart, pos)) != std::string_view::npos) {
    size_t begin = pos + kCallStart.size();
    size_t end = text.find(kCallEnd, begin);
    if (end == std::string_view::npos) {
      return Status::error("tool call: '<|tool_call_start|>' without "
                           "'<|tool_call_end|>'");
    }
    std::string_view body = text.substr(begin, end - begin);
    PyLiteralParser py(body);
    std::vector<ToolCall> found;
    Status st = py.callList(found);
    if (!st) {
      found.clear();
      if (Status js = parseJsonCalls(body, found); !js) {
        return st;
      }
    }
    calls.insert(calls.end(), found.begin(), found.end());
    pos = end + kCallEnd.size();
  }
  return calls;
}

std::string stripToolCalls(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = text.find(kCallStart, pos);
    if (start == std::string_view::npos) {
      out += text.substr(pos);
      break;
    }
    out += text.substr(pos, start - pos);
    size_t end = text.find(kCallEnd, start);
    if (end == std::string_view::npos) {
      break;
    }
    pos = end + kCallEnd.size();
  }
  return out;
}

std::string toolCallsToJson(const std::vector<ToolCall> &calls) {
  nlohmann::json arr = nlohmann::json::array();
  for (const ToolCall &c : calls) {
    arr.push_back({{"name", c.name},
                   {"arguments", nlohmann::json::parse(c.argumentsJson)}});
  }
  return nlohmann::json{{"tool_calls", arr}}.dump();
}

} // namespace lfm2c::rt
