#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, cargo-fuzz, nightly) and runs them, one at a time.
#
#   scripts/fuzz.sh [--time SECONDS | --runs N] [TARGET...]   a pass of every target (or those named)
#   scripts/fuzz.sh --campaign N [TARGET...]                   N runs of each, fastest first, under
#                                                              nice -n 19, each result appended to
#                                                              $HOME/.cache/chatrixcd/fuzz-campaign/results.tsv
#   scripts/fuzz.sh --build | --list | --seeds
#
# Options:
#   --time SECONDS   how long each target runs (default: $FUZZ_SECONDS, else 20)
#   --runs N         how many inputs each target runs instead
#   --campaign N     the long campaign (see docs/fuzzing.md); add --detach to leave it running in
#                    the background (setsid nohup), its log beside results.tsv. Started again, it
#                    skips the targets already done for N runs without a crash.
#   --build          only build the targets
#   --list           name the targets
#   --seeds          write the committed seed selection again (fuzz/corpus, from fuzz/seeds.py)
#
# Everything grows outside the clone, so fresh clones reuse it:
#   FUZZ_TARGET_DIR   build products          (default $HOME/.cache/chatrixcd/fuzz-target)
#   FUZZ_CORPUS_DIR   the grown corpora       (default $HOME/.cache/chatrixcd/fuzz-corpus/<target>)
#   FUZZ_ARTIFACTS    crashes, timeouts, OOMs (default $HOME/.cache/chatrixcd/fuzz-artifacts/<target>)
#   FUZZ_TOOLS        where cargo-fuzz is installed when missing (default $HOME/.cache/chatrixcd/tools)
#   FUZZ_CAMPAIGN_DIR results.tsv, speeds.tsv, campaign logs (default $HOME/.cache/chatrixcd/fuzz-campaign)
# and every run reads, besides its grown corpus, the committed seeds (fuzz/corpus/<target>) and
# seeds made from the Semaphore recordings ($SEMAPHORE_RECORDINGS, default
# ../shared/semaphore/recorded/2.10.32 beside the clone, else testdata/semaphore/2.10.32).
#
# Other knobs: FUZZ_SANITIZER (none; `address` for ASan), FUZZ_NICE (10), FUZZ_TIMEOUT (seconds
# one input may take, 10), FUZZ_RSS_MB (2048), FUZZ_MAX_LEN (libFuzzer's default when unset).
#
# Exit status: 0 when no target crashed; 1 when one did (each crash's input is named: run it
# again with `<binary> <input>`); 2 for a usage or build error.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

cache="$HOME/.cache/chatrixcd"
target_dir="${FUZZ_TARGET_DIR:-$cache/fuzz-target}"
corpus_root="${FUZZ_CORPUS_DIR:-$cache/fuzz-corpus}"
artifacts_root="${FUZZ_ARTIFACTS:-$cache/fuzz-artifacts}"
tools="${FUZZ_TOOLS:-$cache/tools}"
campaign_dir="${FUZZ_CAMPAIGN_DIR:-$cache/fuzz-campaign}"
# Made afresh by each run (its own, so runs side by side do not pull them from under each other).
seeds_dir="$cache/fuzz-seeds/$$"
sanitizer="${FUZZ_SANITIZER:-none}"
nice_level="${FUZZ_NICE:-10}"
per_input="${FUZZ_TIMEOUT:-10}"
rss_mb="${FUZZ_RSS_MB:-2048}"
seconds="${FUZZ_SECONDS:-20}"
runs=""
campaign=""
detach=""
mode="run"
named=()

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while (($#)); do
  case "$1" in
    --time) seconds="${2:?--time needs seconds}"; runs=""; shift 2 ;;
    --runs) runs="${2:?--runs needs a count}"; shift 2 ;;
    --campaign) campaign="${2:?--campaign needs a count}"; mode="campaign"; shift 2 ;;
    --detach) detach=1; shift ;;
    --build) mode="build"; shift ;;
    --list) mode="list"; shift ;;
    --seeds) mode="seeds"; shift ;;
    -h | --help) usage ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) named+=("$1"); shift ;;
  esac
done
for n in "$seconds" "$runs" "$campaign"; do
  [[ -z "$n" || "$n" =~ ^[0-9]+$ ]] || { echo "not a whole number: $n" >&2; exit 2; }
done

# Every target, as fuzz/Cargo.toml names them.
mapfile -t all_targets < <(sed -n '/^\[\[bin\]\]/,/^name/s/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml)
if ((${#named[@]})); then
  for t in "${named[@]}"; do
    printf '%s\n' "${all_targets[@]}" | grep -qx "$t" || { echo "no fuzz target $t (try --list)" >&2; exit 2; }
  done
  targets=("${named[@]}")
else
  targets=("${all_targets[@]}")
fi

case "$mode" in
  list) printf '%s\n' "${all_targets[@]}"; exit 0 ;;
  seeds) exec python3 fuzz/seeds.py --committed ;;
esac

if [[ -n "$detach" ]]; then
  [[ "$mode" == campaign ]] || { echo "--detach goes with --campaign" >&2; exit 2; }
  mkdir -p "$campaign_dir"
  log="$campaign_dir/campaign-$(date -u +%Y%m%dT%H%M%SZ).log"
  setsid nohup "$0" --campaign "$campaign" "${named[@]}" >"$log" 2>&1 </dev/null &
  echo "campaign running as pid $! (process group $!); log: $log"
  echo "results: $campaign_dir/results.tsv"
  exit 0
fi

# The toolchain: nightly, and cargo-fuzz (installed from crates.io into the cache when missing).
if ! cargo +nightly --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
  else
    echo "fuzzing needs a nightly toolchain (cargo +nightly), and rustup is missing" >&2
    exit 2
  fi
fi
export PATH="$tools/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz into $tools"
  env -u CARGO_TARGET_DIR cargo install --locked cargo-fuzz --version '^0.13' --root "$tools"
fi

build() {
  echo "==> building ${#targets[@]} fuzz target(s) (sanitizer: $sanitizer, into $target_dir)"
  local args=(+nightly fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir")
  if ((${#named[@]})); then
    for t in "${targets[@]}"; do
      nice -n "$nice_level" cargo "${args[@]}" "$t" || exit 2
    done
  else
    nice -n "$nice_level" cargo "${args[@]}" || exit 2
  fi
}
build
[[ "$mode" == build ]] && exit 0

triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$triple/release"

# Seeds from the recordings, made fresh each time (cheap); skipped without python3.
recordings="${SEMAPHORE_RECORDINGS:-}"
if [[ -z "$recordings" ]]; then
  recordings="$repo/../shared/semaphore/recorded/2.10.32"
  [[ -d "$recordings" ]] || recordings="$repo/testdata/semaphore/2.10.32"
fi
rm -rf "$seeds_dir"
trap 'rm -rf "$seeds_dir"' EXIT
if command -v python3 >/dev/null 2>&1 && [[ -d "$recordings" ]]; then
  python3 fuzz/seeds.py --recordings "$recordings" --out "$seeds_dir"
else
  echo "no python3 or no recordings ($recordings): only the committed seeds are used"
fi

# Campaign order: fastest first, by the speeds the last runs measured (unknown ones last).
speeds="$campaign_dir/speeds.tsv"
if [[ "$mode" == campaign && -f "$speeds" ]]; then
  mapfile -t targets < <(
    for t in "${targets[@]}"; do
      s=$(awk -F'\t' -v t="$t" '$1 == t { s = $2 } END { print s + 0 }' "$speeds")
      printf '%s\t%s\n' "$s" "$t"
    done | sort -t$'\t' -k1,1nr | cut -f2
  )
fi

mkdir -p "$campaign_dir"
results="$campaign_dir/results.tsv"
if [[ "$mode" == campaign && ! -s "$results" ]]; then
  printf 'finished\ttarget\truns\texecs\texec_per_s\tcov\tft\tcorpus\tcrashes\twall_s\tartifact\n' >"$results"
fi
[[ "$mode" == campaign ]] && nice_level=19

summary=()
failed=()
for t in "${targets[@]}"; do
  # A campaign started again goes on where it stopped: a target with a result for this many
  # runs, and no crash, is not run again (FUZZ_CAMPAIGN_AGAIN=1 runs it anyway).
  if [[ "$mode" == campaign && -z "${FUZZ_CAMPAIGN_AGAIN:-}" ]] &&
    awk -F'\t' -v t="$t" -v n="$campaign" '$2 == t && $3 == n && $9 == 0 { found = 1 } END { exit !found }' "$results"; then
    echo "==> $t: already done for $campaign runs (see $results)"
    continue
  fi
  corpus="$corpus_root/$t"
  artifacts="$artifacts_root/$t"
  mkdir -p "$corpus" "$artifacts" "fuzz/corpus/$t"
  dirs=("$corpus" "fuzz/corpus/$t")
  [[ -d "$seeds_dir/$t" ]] && dirs+=("$seeds_dir/$t")
  limit=(-max_total_time="$seconds")
  [[ -n "$runs" ]] && limit=(-runs="$runs")
  [[ "$mode" == campaign ]] && limit=(-runs="$campaign")
  extra=()
  [[ -n "${FUZZ_MAX_LEN:-}" ]] && extra+=(-max_len="$FUZZ_MAX_LEN")
  # One log per kind of run, so a pass beside a running campaign does not write over its log.
  log="$artifacts/last-run.log"
  [[ "$mode" == campaign ]] && log="$artifacts/campaign-run.log"
  echo "==> $t (${limit[*]})"
  start=$(date +%s.%N)
  set +e
  nice -n "$nice_level" "$bin_dir/$t" "${limit[@]}" "${extra[@]}" -print_final_stats=1 \
    -timeout="$per_input" -rss_limit_mb="$rss_mb" -artifact_prefix="$artifacts/" \
    "${dirs[@]}" >"$log" 2>&1
  status=$?
  set -e
  elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
  wall=$(awk -v e="$elapsed" 'BEGIN { printf "%d", e + 0.5 }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # libFuzzer counts whole seconds: under one, it says 0.
  if [[ -n "$execs" && "${rate:-0}" == 0 ]]; then
    rate=$(awk -v n="$execs" -v e="$elapsed" 'BEGIN { printf "%d", (e > 0 ? n / e : 0) }')
  fi
  # The last status line: `#N DONE cov: X ft: Y corp: Z/…` (or the last pulse before a crash).
  # (-a: the log holds libFuzzer's dictionary, raw bytes and all.)
  stats=$(grep -aE '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stats")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$stats")
  artifact=$(LC_ALL=C sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  crashes=0
  if ((status != 0)); then
    crashes=1
    failed+=("$t")
    echo "!!! $t failed (exit $status); its log: $log" >&2
    grep -aE 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -5 >&2 || true
    if [[ -n "$artifact" ]]; then
      echo "!!! crash input: $artifact (again: $bin_dir/$t $artifact)" >&2
    fi
  fi
  line=$(printf '%-16s %12s execs %8s exec/s  cov %6s  ft %7s  corpus %6s  %5ss  %s' \
    "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$wall" \
    "$( ((crashes)) && echo "CRASH ${artifact:-(see log)}" || echo ok)")
  echo "$line"
  summary+=("$line")
  [[ "${rate:-0}" != 0 ]] && printf '%s\t%s\n' "$t" "$rate" >>"$speeds"
  if [[ "$mode" == campaign ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$t" "$campaign" \
      "${execs:-}" "${rate:-}" "${cov:-}" "${ft:-}" "${corp:-}" "$crashes" "$wall" "${artifact:--}" >>"$results"
  fi
done

echo
echo "==> fuzzing summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "crashed: ${failed[*]} (inputs under $artifacts_root/<target>/)" >&2
  exit 1
fi
