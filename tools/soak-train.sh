#!/usr/bin/env bash
# kill -9 soak of `deem train --resume`: a reference run trains uninterrupted; a second run of the same
# stage, seed and steps is killed with SIGKILL at random moments (seeded), resumed from its last complete
# checkpoint each time, and finally run to the end. Prints, per kill, the step reached, the checkpoint
# resumed from and the steps lost, then whether the final weights equal the reference bit for bit.
#
#   tools/soak-train.sh --world W [--kills 3] [--seed 1] [--stage 2] [--steps 6] [--save-every 1] [--out DIR]
#
# The deem command defaults to the Debug build; set DEEM to override (e.g. DEEM="dotnet path/deem.dll").
set -euo pipefail

world="" kills=3 seed=1 stage=2 steps=6 save_every=1 out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --world) world="$2"; shift 2 ;;
    --kills) kills="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --stage) stage="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --save-every) save_every="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "error: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[[ -n "$world" && -d "$world" ]] || { echo "error: --world: world folder '$world' not found (deem world make --out W)" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${out:-$(mktemp -d /tmp/deem-soak.XXXXXX)}"
mkdir -p "$out"
if [[ -z "${DEEM:-}" ]]; then
  # a private copy of the build, so a rebuild during the soak cannot swap the binaries under a run
  rm -rf "$out/bin"; cp -r "$root/src/Deem.Cli/bin/Debug/net10.0" "$out/bin"
  DEEM="dotnet $out/bin/deem.dll"
fi
read -r -a deem <<< "$DEEM"
ref="$out/reference" soak="$out/soak"
common=(--stage "$stage" --world "$world" --steps "$steps" --save-every "$save_every" --eval-every 0 --log-every 1 --seed 5)
rm -rf "$soak" "$out"/attempt-*.log
# a reference run of the same settings in the same --out folder is reused
if [[ "$(cat "$out/reference.args" 2> /dev/null)" != "${common[*]}" || ! -f "$ref/model.safetensors" ]]; then rm -rf "$ref"; fi

last_step() {  # last step a run's log reports ("step N/M ..."), 0 when none
  grep -o '^step [0-9]*/' "$1" 2> /dev/null | tail -n 1 | grep -o '[0-9]*' || echo 0
}
last_checkpoint() {  # step of the newest complete checkpoint (one with trainer_state.json), 0 when none
  local best=0 d s
  for d in "$1"/checkpoints/step-*; do
    [[ -f "$d/trainer_state.json" ]] || continue
    s=$((10#${d##*step-})); (( s > best )) && best=$s
  done
  echo "$best"
}

if [[ -f "$ref/model.safetensors" ]]; then
  ref_seconds=$(cat "$out/reference.seconds")
  echo "reference: reusing $ref ($ref_seconds s)"
else
  echo "reference: ${deem[*]} train ${common[*]} --out $ref"
  t0=$(date +%s)
  "${deem[@]}" train "${common[@]}" --out "$ref" > "$out/reference.log" 2>&1
  ref_seconds=$(( $(date +%s) - t0 ))
  echo "$ref_seconds" > "$out/reference.seconds"; echo "${common[*]}" > "$out/reference.args"
  echo "reference run: $ref_seconds s"
fi

RANDOM=$seed
step_seconds=$(( ref_seconds / (steps + 2) + 1 ))  # the run's time also holds its start-up
lost_total=0 done_early=0 died=0
for ((k = 1; k <= kills; k++)); do
  resume=() ckpt=$(last_checkpoint "$soak")
  (( ckpt > 0 )) && resume=(--resume)
  (( ckpt >= steps - 1 )) && break
  # kill once the run reports a random step past its checkpoint, a random fraction of a step later
  target=$(( ckpt + RANDOM % (steps - 1 - ckpt) )) extra=$(( RANDOM % (step_seconds * 10) ))
  log="$out/attempt-$k.log"
  "${deem[@]}" train "${common[@]}" --out "$soak" "${resume[@]}" > "$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2> /dev/null && (( $(last_step "$log") < target )); do sleep 0.1; done
  for ((t = 0; t < extra; t++)); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  if ! kill -0 "$pid" 2> /dev/null; then
    status=0; wait "$pid" || status=$?
    if (( status == 0 )); then echo "kill $k: the run finished before the kill"; done_early=1; break; fi
    died=$(( died + 1 ))
    echo "kill $k: the run died by itself with exit status $status; resuming (see $log)"
    continue
  fi
  kill -9 "$pid"; wait "$pid" 2> /dev/null || true
  reached=$(last_step "$log") after=$(last_checkpoint "$soak")
  lost=$(( reached > after ? reached - after : 0 )); lost_total=$(( lost_total + lost ))
  echo "kill $k at step $reached + $(( extra / 10 )).$(( extra % 10 )) s: resumes from checkpoint $after, steps lost $lost"
done

if (( ! done_early )); then
  resume=()
  [[ $(last_checkpoint "$soak") -gt 0 ]] && resume=(--resume)
  "${deem[@]}" train "${common[@]}" --out "$soak" "${resume[@]}" > "$out/final.log" 2>&1 \
    || { echo "the final resumed run failed; see $out/final.log" >&2; exit 1; }
fi
echo "steps lost in total: $lost_total; runs that died by themselves: $died"
if cmp -s "$ref/model.safetensors" "$soak/model.safetensors"; then
  echo "final weights: EQUAL bit for bit ($ref/model.safetensors vs $soak/model.safetensors)"
else
  echo "final weights: UNEQUAL ($ref/model.safetensors vs $soak/model.safetensors)"; exit 1
fi
