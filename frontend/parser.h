#pragma once
// Text -> AST. Syntax errors (lexer and parser) are collected with ANTLR's recovery and thrown together
// as UserErrors, each with file, line and column.
#include <string>

#include "frontend/ast.h"

namespace sublinear::frontend {

// Current version of the language; files start with `snet 1;`.
inline constexpr int64_t kLanguageVersion = 1;

Program parse_program(const std::string& file, const std::string& text);

}  // namespace sublinear::frontend
