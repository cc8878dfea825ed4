#pragma once
// SL_VECTOR_CLONES: a function compiled three times, for AVX-512, AVX2 and the baseline x86-64 (SSE2),
// the version chosen once when the program loads (GCC's target_clones, an ifunc), so a build that
// runs on any x86-64 still uses the machine's widest vectors in its hottest element loops. Rules:
// - Only for loops whose every element is computed independently (maps, or reductions written with their
//   own fixed lanes): vector width must never change a result. The runtime is built with
//   -ffp-contract=off, so no version fuses a multiply and an add into an FMA the others do not have; the
//   results are bitwise the same on every machine.
// - OpenMP regions stay outside: the clone is the per-thread span (omp outlining happens before cloning).
// - GCC only: clang 14 (the sanitizer and fuzzing builds) refuses target_clones on templates, and builds
//   them for the baseline.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SL_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SL_VECTOR_CLONES
#endif
