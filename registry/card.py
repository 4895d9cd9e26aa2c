"""The Hub model card of a pushed prompt: YAML metadata the Hub indexes, and a body people read.

The metadata follows the Hub's model card specification (``library_name``, ``tags``,
``base_model``, ``datasets``, ``license`` and a ``model-index`` holding the metrics), built with
``huggingface_hub.ModelCardData`` so that ``huggingface_hub.ModelCard`` parses it back. The
body says what the prompt is (a visual prompt, VPT, Jia et al. 2022, for a frozen timm ViT), how
it was made (init, data, training configuration, seed, lineage), its metrics, for a composed
prompt (e.g. an HGPrompt ensemble) the table of sources with their Hub repos and weights, and how
to pull and load it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .manifest import Manifest

__all__ = ["LIBRARY_NAME", "PIPELINE_TAG", "TAG", "card_metadata", "render_card"]

LIBRARY_NAME = "promptkit"
TAG = "visual-prompt-tuning"
PIPELINE_TAG = "image-classification"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def card_metadata(manifest: Manifest, *, source_repos: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The card's YAML metadata as a dict (``huggingface_hub.ModelCardData`` keys).

    Args:
        manifest: the pushed version.
        source_repos: lineage source ref -> Hub repo id, where known beyond the manifest.
    """
    from huggingface_hub import EvalResult, ModelCardData

    m = manifest
    repos = source_repos or {}
    tags = [LIBRARY_NAME, TAG, m.backbone.timm_name, "vision-transformer", f"{m.geometry.mode}-prompt"]
    if m.lineage is not None:
        tags.append(_slug(m.lineage.method))
    dataset_name = m.dataset.name if m.dataset else m.task
    eval_results = None
    if m.metrics:
        ds = dataset_name or "unspecified"
        eval_results = [
            EvalResult(task_type=PIPELINE_TAG, dataset_type=ds, dataset_name=ds, metric_type=k, metric_value=v)
            for k, v in m.metrics.items()
        ]
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        tags=tags,
        base_model=m.backbone.hub_id or None,
        datasets=[dataset_name] if dataset_name and _HUB_ID.match(dataset_name) else None,
        license=m.license,
        pipeline_tag=PIPELINE_TAG,
        model_name=m.name,
        eval_results=eval_results,
        promptkit={
            "name": m.name,
            "version": m.version,
            "sha256": m.sha256,
            "backbone": m.backbone.timm_name,
            "backbone_weights_sha256": m.backbone.weights_sha256,
            "geometry": m.geometry.model_dump(),
            "sources": [repos.get(s.ref) or s.hub_repo or s.ref for s in m.lineage.sources] if m.lineage else [],
        },
    )
    return data.to_dict()


def render_card(
    manifest: Manifest,
    *,
    repo_id: str,
    source_repos: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
) -> str:
    """The README.md text: YAML front matter then a Markdown body.

    Args:
        manifest: the pushed version.
        repo_id: the Hub repo it is pushed to (for the usage snippet).
        source_repos: lineage source ref -> Hub repo id, where known beyond the manifest.
        files: file name in the repo -> what it holds, for the "Files" section.
    """
    from huggingface_hub import ModelCardData

    meta = card_metadata(manifest, source_repos=source_repos)
    yaml = ModelCardData(**meta).to_yaml()
    body = "\n".join(_body(manifest, repo_id=repo_id, source_repos=source_repos or {}, files=files or {}))
    return f"---\n{yaml}\n---\n\n{body}\n"


def _body(m: Manifest, *, repo_id: str, source_repos: Mapping[str, str], files: Mapping[str, str]) -> list[str]:
    b, g = m.backbone, m.geometry
    out = [f"# {m.name} (version {m.version})", ""]
    kind = "composed visual prompt" if m.lineage and m.lineage.sources else "visual prompt"
    task = f", tuned for the task `{_cell(m.task)}`" if m.task else ""
    out += [
        f"A {g.mode} {kind} ({g.layers} x {g.length} tokens of width {g.width}) for the frozen timm Vision "
        f"Transformer `{b.timm_name}`{task}. Visual prompt tuning (VPT, Jia et al. 2022) learns these input "
        "tokens while every backbone weight stays frozen; the prompt only works with the backbone it was "
        f"tuned on. Made and published with [promptkit](https://pypi.org/project/promptkit/) "
        f"{m.promptkit_version}.",
        "",
    ]
    if m.description:
        out += [m.description.strip(), ""]
    out += ["## Backbone", "", "| field | value |", "|---|---|", f"| timm name | `{_cell(b.timm_name)}` |"]
    if b.pretrained_tag:
        out.append(f"| pretrained tag | `{_cell(b.pretrained_tag)}` |")
    if b.hub_id:
        out.append(f"| Hub id | [{_cell(b.hub_id)}](https://huggingface.co/{_cell(b.hub_id)}) |")
    out += [f"| weights sha256 | `{b.weights_sha256}` |", ""]

    out += ["## How it was made", "", "| field | value |", "|---|---|", f"| init | `{_cell(m.init)}` |"]
    if m.dataset:
        sizes = ", ".join(f"{k}: {v}" for k, v in m.dataset.sizes.items())
        out.append(f"| dataset | `{_cell(m.dataset.name)}`" + (f" ({_cell(sizes)})" if sizes else "") + " |")
        out.append(f"| dataset fingerprint | `{m.dataset.fingerprint}` |")
        if m.dataset.num_classes:
            out.append(f"| classes | {m.dataset.num_classes} |")
    if m.head:
        out.append(f"| linear head | {m.head.num_classes} classes on {m.head.in_features} features |")
    if m.seed is not None:
        out.append(f"| seed | {m.seed} |")
    if m.lineage:
        out.append(f"| method | `{_cell(m.lineage.method)}` |")
    out += [
        f"| content sha256 | `{m.sha256}` |",
        f"| created | {m.created_at.isoformat()} |",
        f"| promptkit | {_cell(m.promptkit_version)} |",
        "",
    ]
    if m.training:
        out += ["Training configuration:", "", *_code(json.dumps(m.training, indent=2, sort_keys=True), "json"), ""]
    if m.lineage and m.lineage.params:
        out += ["Composition parameters:", "", *_code(json.dumps(m.lineage.params, indent=2, sort_keys=True), "json"),
                ""]

    out += ["## Metrics", ""]
    if m.metrics:
        out += ["| metric | value |", "|---|---|"]
        out += [f"| {_cell(k)} | {v:.4f} |" for k, v in m.metrics.items()]
    else:
        out.append("No metrics were recorded.")
    out.append("")

    if m.lineage and m.lineage.sources:
        out += [
            "## Lineage", "",
            f"Composed with `{_cell(m.lineage.method)}` from {len(m.lineage.sources)} source prompts:", "",
            "| source | Hub repo | weight | task | sha256 |", "|---|---|---|---|---|",
        ]
        for s in m.lineage.sources:
            repo = source_repos.get(s.ref) or s.hub_repo
            repo_cell = f"[{_cell(repo)}](https://huggingface.co/{_cell(repo)})" if repo else "local only"
            weight = f"{s.weight:.4f}" if s.weight is not None else ""
            out.append(f"| `{_cell(s.ref)}` | {repo_cell} | {weight} | {_cell(s.task or '')} | `{s.sha256[:12]}` |")
        out.append("")

    out += [
        "## Usage", "",
        "Pull it into your local registry (the download is validated: schema, digests, tensor values):", "",
        *_code(f"pip install promptkit\npromptkit pull {repo_id}@v{m.version}", "bash"), "",
        "then load it by its content digest, whatever local version number it gets:", "",
        *_code(
            "from promptkit.registry import Registry\n\n"
            f'asset = Registry().load("{m.name}@sha256:{m.sha256[:16]}")\n'
            f"asset.prompt  # tensor of shape ({g.layers}, {g.length}, {g.width})",
            "python",
        ),
        "",
    ]
    if files:
        out += ["## Files", "", *(f"- `{name}`: {what}" for name, what in files.items()), ""]
    return out


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell or inline code (no pipes, newlines or backticks)."""
    return re.sub(r"\s+", " ", str(text)).replace("|", "\\|").replace("`", "'")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "composed"


def _code(text: str, lang: str) -> list[str]:
    """A fenced block whose fence is longer than any backtick run inside ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", text, fence]
