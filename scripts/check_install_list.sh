#!/usr/bin/env bash
# Proves that scripts/install_deps.sh installs every Debian package a finished build used, so that a
# fresh machine gets them too. A machine that kept a package from an earlier install by hand would
# build fine and hide the gap; this check looks at what the build resolved, not at whether it built.
#
#   scripts/check_install_list.sh [BUILD_DIR] [--drop PKG]...
#
# Rules:
#   - Files checked: every absolute path in BUILD_DIR/CMakeCache.txt of type FILEPATH or PATH, or whose
#     name ends in _LIBRARY, _INCLUDE_DIR, _DIR, _EXECUTABLE or _COMPILER (lists split on ';'); every
#     CMake file configure loaded (CMAKE_MAKEFILE_DEPENDS in CMakeFiles/Makefile.cmake: modules and the
#     packages' config files); every header the compilers read (the *.o.d depfiles); every library on
#     the link lines (absolute, or -lNAME resolved as the linker would); every shared library the built
#     ELF files load (ldd); and the tools the scripts and benchmarks call.
#   - Each file maps to its Debian package (dpkg-query -S, trying the /usr-merged twin and then the
#     real path). It passes when that package is listed by install_deps.sh, is in the Depends and
#     Pre-Depends closure of the list, or has priority required or important (every Debian system
#     has those). A file no package owns passes only under the CUDA toolkit's prefix (/usr/local/cuda*)
#     or inside the source or build tree.
#   - A listed package that is not installed fails too: the check would otherwise prove nothing.
#   - --drop PKG checks as if PKG were not on the list (used by the test that shows the check fails).
# Exit status: 0 when complete; 1 naming each missing package and the files that need it; 2 on misuse.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="" drops=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --drop) [[ $# -ge 2 ]] || { echo "check_install_list: --drop needs a package" >&2; exit 2; }
            drops+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "check_install_list: unknown option $1" >&2; exit 2 ;;
    *) build="$1"; shift ;;
  esac
done
build="$(cd "${build:-$root/build}" 2>/dev/null && pwd)" \
  || { echo "check_install_list: build folder ${build:-$root/build} not found: build first" >&2; exit 2; }
[[ -f "$build/CMakeCache.txt" ]] || { echo "check_install_list: $build has no CMakeCache.txt" >&2; exit 2; }
for tool in dpkg-query apt-cache ldd; do
  command -v "$tool" >/dev/null || { echo "check_install_list: needs $tool (a Debian system)" >&2; exit 2; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- The allowed packages -------------------------------------------------------------------------
"$here/install_deps.sh" --list | sort -u > "$tmp/listed"
if [[ ${#drops[@]} -gt 0 ]]; then
  printf '%s\n' "${drops[@]}" | sort -u > "$tmp/dropped"
  comm -23 "$tmp/listed" "$tmp/dropped" > "$tmp/listed.kept" && mv "$tmp/listed.kept" "$tmp/listed"
fi
dpkg-query -W -f='${Package} ${db:Status-Status} ${Priority} ${Essential}\n' > "$tmp/installed"
status=0
while read -r p; do
  if ! awk -v p="$p" '$1 == p && $2 == "installed" { found = 1 } END { exit !found }' "$tmp/installed"; then
    echo "check_install_list: $p is on install_deps.sh's list but not installed: run scripts/install_deps.sh" >&2
    status=1
  fi
done < "$tmp/listed"
# apt-cache prints each package of the closure at the start of a line, its dependencies indented.
mapfile -t listed < "$tmp/listed"
apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "${listed[@]}" 2>/dev/null \
  | awk '/^[^ ]/ { gsub(/[<>]/, ""); sub(/:.*/, ""); print }' > "$tmp/closure"
awk '$3 == "required" || $3 == "important" || $4 == "yes" { print $1 }' "$tmp/installed" > "$tmp/base"
sort -u "$tmp/listed" "$tmp/closure" "$tmp/base" > "$tmp/allowed"

# --- The files the build used, each with why -------------------------------------------------------
# Lines "path<TAB>why". Paths inside the source or build tree are ours.
# Files a package's CMake config loads only when present (an OPTIONAL include) are not needs.
optional_loads=(
  '*/cmake/GTest/GMock*'   # GTestConfig.cmake includes GMockTargets.cmake OPTIONAL; no test uses gmock
)
emit() {
  local f="$1" pat
  [[ "$f" == /* && -e "$f" ]] || return 0
  [[ "$f" == */../* || "$f" == */./* ]] && f="$(realpath -s "$f")"   # dpkg knows normalised paths only
  [[ "$f" == "$root" || "$f" == "$root"/* || "$f" == "$build" || "$f" == "$build"/* ]] && return 0
  for pat in "${optional_loads[@]}"; do [[ "$f" == $pat ]] && return 0; done
  printf '%s\t%s\n' "$f" "$2"
}
{
  while IFS= read -r line; do
    [[ "$line" =~ ^([A-Za-z0-9_.+-]+):([A-Z]+)=(.*)$ ]] || continue
    name="${BASH_REMATCH[1]}" type="${BASH_REMATCH[2]}" value="${BASH_REMATCH[3]}"
    case "$type:$name" in
      *:CMAKE_INSTALL_PREFIX) continue ;;   # where we install, not something we use
      FILEPATH:*|PATH:*|*_LIBRARY|*_LIBRARY_*|*_INCLUDE_DIR|*_DIR|*_EXECUTABLE|*_COMPILER) ;;
      *) continue ;;
    esac
    IFS=';' read -ra parts <<< "$value"
    for v in "${parts[@]}"; do emit "$v" "CMakeCache.txt: $name"; done
  done < "$build/CMakeCache.txt"

  if [[ -f "$build/CMakeFiles/Makefile.cmake" ]]; then
    awk '/^set\(CMAKE_MAKEFILE_DEPENDS/ { on = 1; next } on && /^  \)/ { on = 0 } on' "$build/CMakeFiles/Makefile.cmake" \
      | tr -d '"' | sed 's/^ *//' | while IFS= read -r f; do emit "$f" "loaded by cmake configure"; done
  else
    echo "check_install_list: $build/CMakeFiles/Makefile.cmake missing (not a Makefile build?): configure files unchecked" >&2
  fi

  find "$build" -name '*.o.d' -type f -print0 | xargs -0 -r cat \
    | tr ' \\' '\n\n' | grep '^/' | sort -u | while IFS= read -r f; do emit "$f" "a header the build compiled"; done

  while IFS= read -r -d '' f; do
    [[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" == '177ELF' ]] || continue
    ldd "$f" 2>/dev/null | while read -r a b c _; do
      if [[ "$b" == "=>" && "$c" == "not" ]]; then
        printf 'NOTFOUND\t%s needs %s, which is not found\n' "${f#"$build"/}" "$a"
      elif [[ "$b" == "=>" ]]; then emit "$c" "loaded by ${f#"$build"/}"
      elif [[ "$a" == /* ]]; then emit "$a" "loaded by ${f#"$build"/}"
      fi
    done
  done < <(find "$build" -type f \( -perm -u+x -o -name '*.so*' \) -not -path '*/CMakeFiles/*' -print0)

  # Libraries the linker took: absolute paths on the link lines, and each -lNAME resolved the way the
  # linker does (the line's -L folders, then the compiler's search path). ldd misses link-time-only
  # files: -luuid needs libuuid.so from uuid-dev while the programs load libuuid.so.1 from libuuid1.
  cxx="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")"
  while IFS= read -r -d '' lt; do
    read -ra tokens < <(tr '\n' ' ' < "$lt"; echo)
    dirs=()
    for t in "${tokens[@]}"; do [[ "$t" == -L/* ]] && dirs+=("${t#-L}"); done
    for t in "${tokens[@]}"; do
      case "$t" in
        /*.so|/*.so.*|/*.a) emit "$t" "linked by ${lt#"$build"/}" ;;
        -l*)
          name="${t#-l}" found=""
          for d in "${dirs[@]}"; do
            for f in "$d/lib$name.so" "$d/lib$name.a"; do [[ -z "$found" && -e "$f" ]] && found="$f"; done
          done
          for ext in so a; do
            [[ -n "$found" || -z "$cxx" ]] && break
            f="$("$cxx" -print-file-name="lib$name.$ext" 2>/dev/null || true)"
            [[ "$f" == /* && -e "$f" ]] && found="$f"
          done
          if [[ -n "$found" ]]; then emit "$found" "linked as $t by ${lt#"$build"/}"; fi ;;
      esac
    done
  done < <(find "$build" -name link.txt -path '*/CMakeFiles/*' -print0)

  # Tools the scripts call that no build file names. Looked up where Debian puts them, not on PATH: a
  # python3 of pyenv's or a cmake from pip would pass here and be missing on a fresh machine.
  for t in ctest antlr4 python3 awk timeout; do
    p="$(PATH=/usr/bin:/bin:/usr/sbin:/sbin command -v "$t" || true)"
    if [[ -n "$p" ]]; then emit "$p" "the $t command (run.sh, test.sh, bench/)"
    else printf 'NOTFOUND\tthe %s command (run.sh, test.sh, bench/) is not installed by any Debian package\n' "$t"; fi
  done
} > "$tmp/files.raw"

grep '^NOTFOUND' "$tmp/files.raw" | cut -f2- | sort -u > "$tmp/notfound" || true
# libcuda.so.1 is the driver's: it is on a GPU machine and never a package of ours.
notfound="$(grep -v 'libcuda\.so' "$tmp/notfound" || true)"
if [[ -n "$notfound" ]]; then sed 's/^/check_install_list: /' <<< "$notfound" >&2; status=1; fi
# One line per file, with up to three of the reasons it was used.
grep -v '^NOTFOUND' "$tmp/files.raw" | sort -u | awk -F'\t' '
  $1 != f { if (f != "") print f "\t" why; f = $1; why = $2; n = 1; next }
  ++n <= 3 { why = why "; " $2 }
  END { if (f != "") print f "\t" why }' > "$tmp/files"

# --- Files to packages -----------------------------------------------------------------------------
# dpkg-query knows a file by the path its package shipped: /usr-merged systems reach /lib/x.so as
# /usr/lib/x.so and the other way round, and links made outside dpkg (alternatives) only by target.
twin() {
  case "$1" in
    /usr/lib/*|/usr/lib64/*|/usr/bin/*|/usr/sbin/*) echo "${1#/usr}" ;;
    /lib/*|/lib64/*|/bin/*|/sbin/*) echo "/usr$1" ;;
  esac
}
# Links are followed one at a time, so /usr/bin/c++ -> /etc/alternatives/c++ -> /usr/bin/g++ names g++
# (the package a user installs), not only g++-12 at the end of the chain.
cut -f1 "$tmp/files" | while IFS= read -r f; do
  p="$f"
  for _ in 1 2 3 4 5 6 7 8; do
    printf '%s\t%s\n' "$f" "$p"
    t="$(twin "$p")"; [[ -n "$t" ]] && printf '%s\t%s\n' "$f" "$t"
    [[ -L "$p" ]] || break
    n="$(readlink "$p")"
    [[ "$n" == /* ]] || n="$(dirname "$p")/$n"
    p="$(realpath -s "$n")"
  done
  r="$(readlink -f "$f")"
  [[ "$r" == "$p" ]] || printf '%s\t%s\n' "$f" "$r"
done > "$tmp/candidates"
cut -f2 "$tmp/candidates" | sort -u > "$tmp/queries"
# One dpkg-query call for all: lines "pkg1, pkg2: path" (diversion notes are skipped).
xargs -r -d '\n' dpkg-query -S < "$tmp/queries" 2>/dev/null | grep -v '^diversion ' \
  | awk -F': ' '{ n = split($1, ps, ", "); for (i = 1; i <= n; i++) { sub(/:.*/, "", ps[i]); print $2 "\t" ps[i] } }' \
  > "$tmp/owners" || true

# For each file the first candidate path with an owner decides (the path as given first).
awk -F'\t' '
  FILENAME == ARGV[1] { owners[$1] = owners[$1] (owners[$1] == "" ? "" : ",") $2; next }
  FILENAME == ARGV[2] { allowed[$1] = 1; next }
  FILENAME == ARGV[3] { why[$1] = $2; next }
  {
    f = $1
    if (done[f] || !(($2) in owners)) { if (!(f in seen)) seen[f] = 0; next }
    done[f] = 1; seen[f] = 1
    n = split(owners[$2], ps, ","); ok = 0
    for (i = 1; i <= n; i++) if (ps[i] in allowed) ok = 1
    if (!ok) print "MISSING\t" ps[1] "\t" f "\t" why[f]
    else print "OK\t" ps[1] "\t" f
  }
  END { for (f in seen) if (!seen[f]) print "UNOWNED\t-\t" f "\t" why[f] }
' "$tmp/owners" "$tmp/allowed" "$tmp/files" "$tmp/candidates" > "$tmp/verdicts"

while IFS=$'\t' read -r _ _ f why; do
  case "$(readlink -f "$f")" in /usr/local/cuda*) continue ;; esac
  [[ "$f" == /usr/local/cuda* ]] && continue
  echo "check_install_list: $f ($why) belongs to no Debian package: build only against packaged files or the CUDA toolkit" >&2
  status=1
done < <(grep '^UNOWNED' "$tmp/verdicts" || true)

missing_pkgs="$(grep '^MISSING' "$tmp/verdicts" | cut -f2 | sort -u || true)"
for p in $missing_pkgs; do
  status=1
  echo "check_install_list: package $p is used by the build but scripts/install_deps.sh does not install it (nor anything that depends on it); add $p to its list. It provides:" >&2
  awk -F'\t' -v p="$p" '$1 == "MISSING" && $2 == p && ++n <= 8 { print "    " $3 "  (" $4 ")" }
    END { if (n > 8) print "    ... and " n - 8 " more files" }' "$tmp/verdicts" >&2
done

if [[ "$status" -eq 0 ]]; then
  files="$(wc -l < "$tmp/files")"
  used="$(grep '^OK' "$tmp/verdicts" | cut -f2 | sort -u | wc -l)"
  echo "check_install_list: ok: $files files the build used come from $used Debian packages, all installed by" \
       "scripts/install_deps.sh ($(wc -l < "$tmp/listed") listed, their dependencies, or priority required/important)" \
       "or from the CUDA toolkit"
fi
exit "$status"
