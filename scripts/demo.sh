#!/usr/bin/env bash
# The main job (`make demo`), on the embedded zoo with no network: for one target task whose own
# built-in prompt is left out, rank the 11 other built-in source prompts, learn the HGPrompt
# ensemble, compose and tune the target prompt, compare it with uniform, best-single and random on
# the same splits and seed, store it in the local registry and show its lineage.
#   TARGET=zoo-objects make demo         # another target
#   PROMPTKIT_REGISTRY=/tmp/reg make demo   # another registry (default: $PROMPTKIT_HOME/registry)
set -euo pipefail
TARGET="${TARGET:-zoo-digits}"
NAME="${NAME:-demo/${TARGET#zoo-}-hgprompt}"
OUT="${DEMO_DIR:-runs/demo}"
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
SECONDS=0

step "1. The built-in collection: one prompt per zoo task, tuned on the shipped zoo-vit backbone"
promptkit list --name zoo/ --latest

step "2. Rank the sources for $TARGET by transferability (its own prompt is left out)"
promptkit rank --target "$TARGET"

step "3. HGPrompt: learn the weights, stack the sources that carry them under one head, tune; compare compositions and baselines"
promptkit ensemble --target "$TARGET" --name "$NAME" --compose stack,ensemble,distill,average \
  --compare uniform,best-single,random \
  --plot "$OUT/weights.png" --description "make demo: HGPrompt ensemble for $TARGET"

step "4. The stored prompt and its lineage"
promptkit show "$NAME"

printf '\nmain job done in %d s; weights plotted to %s\n' "$SECONDS" "$OUT/weights.png" >&2
