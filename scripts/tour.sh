#!/usr/bin/env bash
# A tour of the prompt registry on real files (`make tour`).
# Everything happens in ./runs/tour (a fresh registry each run); nothing touches ~/.cache/promptkit.
set -euo pipefail
DEMO="${DEMO_DIR:-runs/tour}"
rm -rf "$DEMO"; mkdir -p "$DEMO"
export PROMPTKIT_REGISTRY="$DEMO/registry"
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "1. Make real prompt files: a VPT-style checkpoint (official key names) and a bare safetensors prompt"
python - "$DEMO" <<'PY'
import sys, torch
from safetensors.torch import save_file
out = sys.argv[1]
g = torch.Generator().manual_seed(0)
# VPT-deep checkpoint for a 12-block ViT-Ti/16 (width 192): 10 prompt tokens per layer and a 47-class head (DTD).
torch.save({"model": {"enc.transformer.prompt_embeddings": torch.rand(1, 10, 192, generator=g) * 0.1,
                      "enc.transformer.deep_prompt_embeddings": torch.rand(11, 10, 192, generator=g) * 0.1,
                      "head.last_layer.weight": torch.randn(47, 192, generator=g) * 0.01,
                      "head.last_layer.bias": torch.zeros(47)}}, f"{out}/vpt_dtd.pth")
save_file({"prompt": torch.rand(1, 10, 192, generator=g) * 0.1}, f"{out}/svhn_prompt.safetensors")
print(f"wrote {out}/vpt_dtd.pth and {out}/svhn_prompt.safetensors", file=sys.stderr)
PY
SHA=$(python -c "import hashlib; print(hashlib.sha256(b'vit_tiny_patch16_224.augreg_in21k_ft_in1k').hexdigest())")

step "2. Add them (the checkpoint is read with torch.load(weights_only=True): nothing arbitrary is unpickled)"
promptkit add "$DEMO/vpt_dtd.pth" --name demo/dtd --backbone vit_tiny_patch16_224 --weights-sha256 "$SHA" \
  --tag task=dtd --description "VPT-deep prompt imported from an official-format checkpoint"
promptkit add "$DEMO/svhn_prompt.safetensors" --name demo/svhn --like demo/dtd --mode shallow --tag task=svhn
# the same content again: already stored, so nothing is added (the existing version is named)
promptkit add "$DEMO/vpt_dtd.pth" --name demo/dtd --backbone vit_tiny_patch16_224 --weights-sha256 "$SHA" \
  --tag task=dtd --tag note=second-copy

step "3. List (a table for people; --json for scripts)"
promptkit list
promptkit list --json | python -c "import json,sys; d=json.load(sys.stdin); print(len(d), 'versions via --json:', [e['ref'] for e in d])"

step "4. Show one version, by number, alias and digest prefix (identical content has one digest)"
promptkit show demo/dtd:1
DIGEST=$(promptkit show demo/dtd:1 --json | python -c "import json,sys; print(json.load(sys.stdin)['sha256'][:10])")
promptkit alias demo/dtd:1 prod
promptkit show "demo/dtd@prod" --json | python -c "import json,sys; m=json.load(sys.stdin); print('demo/dtd@prod ->', m['ref'])"
promptkit show "demo/dtd@sha256:$DIGEST" --json | python -c "import json,sys; m=json.load(sys.stdin); print('sha256 prefix ->', m['ref'])"

step "5. Tag, export to a folder and import it into a second registry"
promptkit tag demo/dtd:1 stage=reviewed
promptkit export demo/dtd:1 "$DEMO/export"
promptkit add "$DEMO/export" --registry "$DEMO/other-registry" --name team/dtd
cmp "$DEMO/export/prompt.safetensors" "$(promptkit show team/dtd --registry "$DEMO/other-registry" --json | python -c "import json,sys; print(json.load(sys.stdin)['path'])")" \
  && echo "exported and re-imported files are byte-identical" >&2

step "6. Verify, then flip one byte in a copy of the registry: verify fails (exit 4), loading names the version"
promptkit verify
cp -r "$PROMPTKIT_REGISTRY" "$DEMO/tampered"
FILE=$(find "$DEMO/tampered" -path '*demo/svhn*' -name prompt.safetensors | head -1)
python -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-3]^=1; open(p,'wb').write(b)" "$FILE"
set +e
promptkit verify --registry "$DEMO/tampered"; code=$?
set -e
echo "verify on the tampered copy exited with $code (4 = integrity failure)" >&2
[ "$code" -eq 4 ]

step "7. Remove a version (numbers are never reused) and list again"
promptkit rm demo/svhn:1 --yes
promptkit list --latest
echo >&2; echo "registry tour done: $PROMPTKIT_REGISTRY" >&2
