#!/usr/bin/env bash
# Real runs along the budget solver's frontier, side by side with keeping everything and the fixed
# policies drop-cheap and sqrt: for five budgets picked from `sublinear plan --frontier` (the frontier
# points nearest 5%, 15%, 30%, 60% and 100% extra forward work), the planned and measured arena, peak
# RSS, the predicted extra work (recomputation over one forward pass) and the predicted step time
# relative to keep-everything against the measured one (per configuration, the median over ROUNDS
# rounds, default 2, in rotated order, of each run's median seconds per step, first step excluded), and
# whether the loss is bitwise the keep-everything loss. Defaults: CIFAR ResNet-164, batch 32, 10 steps
# on synthetic data.
#
# COSTS=time (default): keep-everything runs first with --profile; the frontier, the budget runs
#   (memory.costs) and the prediction use its measured per-node times: predicted = (forward + backward +
#   recompute seconds) / (forward + backward seconds).
# COSTS=traffic: the planner's default without a profile, FLOPs plus 10 per byte moved; predicted =
#   (3 forward + recompute) / (3 forward) in that unit (the backward taken as twice the forward).
# COSTS=flops: the registry's FLOPs (--costs flops), predicted = (forward + backward + recompute FLOPs) /
#   (forward + backward FLOPs).
#
#   bench/frontier.sh
#   DEPTH=56 BATCH=16 STEPS=4 COSTS=traffic bench/frontier.sh
#   OUT=/tmp/out bench/frontier.sh     # also writes $OUT/frontier.txt
set -euo pipefail
cd "$(dirname "$0")/.."
SUBLINEAR="${SUBLINEAR:-build/sublinear}"
DEPTH="${DEPTH:-164}"
BATCH="${BATCH:-32}"
STEPS="${STEPS:-10}"
ROUNDS="${ROUNDS:-2}"
COSTS="${COSTS:-time}"
[[ "$COSTS" == time || "$COSTS" == traffic || "$COSTS" == flops ]] ||
  { echo "frontier: COSTS must be time, traffic or flops" >&2; exit 2; }
[[ -x "$SUBLINEAR" ]] || { echo "frontier: $SUBLINEAR not built (cmake --build build)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
model=(examples/resnet_cifar.snet --set depth="$DEPTH" --batch "$BATCH")
common=(--set model.params.depth="$DEPTH" --set batch="$BATCH" --set log.every=1)
costs=()
train_costs=()
if [[ "$COSTS" == time ]]; then
  "$SUBLINEAR" train bench/resnet_cifar_bench.yaml --quiet --steps "$STEPS" --run-dir "$tmp/profile" \
    "${common[@]}" --set memory.policy=none --profile
  costs=(--costs "$tmp/profile/profile.json")
  train_costs=(memory.costs="$tmp/profile/profile.json")
elif [[ "$COSTS" == flops ]]; then
  costs=(--costs flops)
  train_costs=(memory.costs=flops)
fi
"$SUBLINEAR" plan "${model[@]}" "${costs[@]}" --frontier --json > "$tmp/frontier.json"
budgets=$(python3 - "$tmp/frontier.json" <<'PY'
import json, sys
pts = json.load(open(sys.argv[1]))["points"]
chosen = []
for target in (0.05, 0.15, 0.30, 0.60, 1.00):
    p = min(pts, key=lambda p: abs(p["extra_forward_ratio"] - target))
    if p["total_peak_bytes"] not in chosen:
        chosen.append(p["total_peak_bytes"])
print(" ".join(str(b) for b in sorted(chosen, reverse=True)))
PY
)
declare -A overrides=([none]="memory.policy=none" [drop-cheap]="memory.policy=drop-cheap"
                      [sqrt]="memory.policy=sqrt")
labels=(none drop-cheap sqrt)
for b in $budgets; do
  labels+=("$b")
  overrides[$b]="memory.policy=budget memory.budget=$b ${train_costs[*]}"
done
train_run() {  # label, round
  local sets=()
  for s in ${overrides[$1]}; do sets+=(--set "$s"); done
  "$SUBLINEAR" train bench/resnet_cifar_bench.yaml --quiet --steps "$STEPS" --run-dir "$tmp/$1.r$2" \
    "${common[@]}" "${sets[@]}"
}
report() {  # label; prints one row from its runs of every round
  local label="$1" plan_args=()
  case "$label" in
    none | drop-cheap | sqrt | log) plan_args=(--policy "$label") ;;
    *) plan_args=(--memory-budget "$label") ;;
  esac
  "$SUBLINEAR" plan "${model[@]}" "${plan_args[@]}" "${costs[@]}" --json > "$tmp/$label.plan.json"
  python3 - "$label" "$tmp" "$ROUNDS" "$BATCH" "$tmp/profile/profile.json" <<'PY'
import json, os, statistics, sys
label, tmp, rounds, batch, profile = sys.argv[1:6]
def run_of(name):  # rows of the last round; median over rounds of each round's median step (first left out)
    per_round, rows = [], []
    for k in range(1, int(rounds) + 1):
        rows = [json.loads(l) for l in open(f"{tmp}/{name}.r{k}/metrics.jsonl") if l.strip()]
        per_round.append(statistics.median(int(batch) / r["samples_per_s"] for r in rows[1:] or rows))
    return rows, statistics.median(per_round)
rows, secs = run_of(label)
none_rows, none_secs = run_of("none")
p = json.load(open(f"{tmp}/{label}.plan.json"))
n = json.load(open(f"{tmp}/none.plan.json"))
if os.path.exists(profile):  # measured seconds: forward and backward of keep-everything, recompute planned
    nodes = json.load(open(profile))["nodes"]
    base = sum(e["forward_seconds"] + (e["backward_seconds"] or 0) for e in nodes)
    predicted = (base + p["recompute_cost"] / 1e9) / base
elif p["cost_unit"] == "flop-eq":
    predicted = (3 * p["forward_cost"] + p["recompute_cost"]) / (3 * p["forward_cost"])
else:
    work = lambda q: q["forward_flops"] + q["backward_flops"] + q["recompute_flops"]
    predicted = work(p) / work(n)
measured = secs / none_secs
last = rows[-1]
none_loss = none_rows[-1]["loss"]
mib = lambda b: b / 2**20
name = ("keep everything" if label == "none" else f"policy {label}" if not label.isdigit()
        else f"budget {mib(int(label)):.2f} MiB")
print(f"{name:<22}{mib(last['planned_arena_bytes']):>10.1f}{mib(last['arena_peak_bytes']):>10.1f}"
      f"{mib(last['rss_peak_bytes']):>9.1f}{100 * p['extra_forward_ratio']:>9.1f}%{predicted:>10.2f}x"
      f"{measured:>10.2f}x{100 * (measured / predicted - 1):>+8.0f}%{secs:>8.2f}  "
      f"{'same' if last['loss'] == none_loss else 'DIFFERS: ' + str(last['loss'])}")
PY
}
# Every configuration once per round, each round in a rotated order, so that a slow spell of a shared
# machine does not land on one configuration only.
for ((k = 1; k <= ROUNDS; k++)); do
  n=${#labels[@]}
  for ((i = 0; i < n; i++)); do train_run "${labels[$(((i + k - 1) % n))]}" "$k"; done
done
if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT"; fi
{
  echo "resnet_cifar depth $DEPTH, batch $BATCH, $STEPS steps x $ROUNDS rounds (CPU, $(nproc) threads), budgets from plan --frontier, costs: $COSTS"
  printf '%-22s%10s%10s%9s%10s%11s%11s%8s%8s  %s\n' run "planned" "measured" "RSS MiB" "extra" "pred time" \
    "meas time" "error" "s/step" "loss vs keep-everything"
  for label in "${labels[@]}"; do report "$label"; done
} | tee "$tmp/table.txt"
if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT"; cp "$tmp/table.txt" "$OUT/frontier.txt"; fi
