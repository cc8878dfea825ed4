#pragma once
// The frontier as an SVG figure: total peak memory (x) against extra forward work (y) for every
// Pareto-optimal plan, drawn as the staircase a budget walks down (the least recomputation at each
// size), points coloured by the family that found them, and the fixed policies placed against it with
// a drop line to what the solver offers at the same size. Hover text gives each point's figures.
#include <string>

#include "planner/budget_solver.h"

namespace sublinear::planner {

std::string frontier_svg(const Frontier& f);

}  // namespace sublinear::planner
