"""The Hub model card of a pushed prompt: YAML metadata the Hub indexes, and a body people read.

The metadata follows the Hub's model card specification (``library_name``, ``tags``,
``base_model``, ``datasets``, ``license`` and a ``model-index`` holding the metrics), built with
``huggingface_hub.ModelCardData`` so that ``huggingface_hub.ModelCard`` parses it back. The
body says what the prompt is (a visual prompt, VPT, Jia et al. 2022, for a frozen timm ViT), how
it was made (init, data, training configuration, seed, lineage), its metrics, for a composed
prompt (e.g. an HGPrompt ensemble) the table of sources with their Hub repos and weights, and how
to pull and load it. An ensemble asset (k member prompts mixed in feature space) is said to be
one, with each member (the version it started from, its task and weight) and its inference cost
of k forwards per image.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .manifest import ENSEMBLE, Manifest

__all__ = ["ENSEMBLE_TAG", "LIBRARY_NAME", "PIPELINE_TAG", "TAG", "card_metadata", "render_card"]

LIBRARY_NAME = "promptkit"
TAG = "visual-prompt-tuning"
ENSEMBLE_TAG = "prompt-ensemble"
PIPELINE_TAG = "image-classification"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def card_metadata(manifest: Manifest, *, source_repos: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The card's YAML metadata as a dict (``huggingface_hub.ModelCardData`` keys).

    Args:
        manifest: the pushed version.
        source_repos: lineage source (or ensemble member) ref -> Hub repo id, where known beyond the manifest.
    """
    from huggingface_hub import EvalResult, ModelCardData

    m = manifest
    repos = source_repos or {}
    tags = [LIBRARY_NAME, TAG, m.backbone.timm_name, "vision-transformer", f"{m.geometry.mode}-prompt"]
    if m.kind == ENSEMBLE:
        tags.append(ENSEMBLE_TAG)
    if m.lineage is not None:
        tags.append(_slug(m.lineage.method))
    dataset_name = m.dataset.name if m.dataset else m.task
    eval_results = None
    accuracies = _accuracies(m.metrics)
    if accuracies:
        ds = dataset_name or "unspecified"
        eval_results = [
            EvalResult(task_type=PIPELINE_TAG, dataset_type=ds, dataset_name=ds, dataset_split=split,
                       metric_type="accuracy", metric_name=f"{split} accuracy" if split else "accuracy",
                       metric_value=v)
            for split, v in accuracies
        ]
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        tags=tags,
        base_model=m.backbone.hub_id or None,
        datasets=[dataset_name] if dataset_name and _HUB_ID.match(dataset_name) else None,
        license=m.license or "unknown",  # the Hub's value for a license not stated
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
            "kind": m.kind,
            **({"members": [{"ref": e.ref, "hub_repo": repos.get(e.ref), "task": e.task, "weight": e.weight}
                            for e in m.ensemble.members], "composition": m.ensemble.composition}
               if m.ensemble is not None else {}),
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
        source_repos: lineage source (or ensemble member) ref -> Hub repo id, where known beyond the manifest.
        files: file name in the repo -> what it holds, for the "Files" section.
    """
    from huggingface_hub import ModelCardData

    meta = card_metadata(manifest, source_repos=source_repos)
    yaml = ModelCardData(**meta).to_yaml()
    body = "\n".join(_body(manifest, repo_id=repo_id, source_repos=source_repos or {}, files=files or {}))
    return f"---\n{yaml}\n---\n\n{body}\n"


def _body(m: Manifest, *, repo_id: str, source_repos: Mapping[str, str], files: Mapping[str, str]) -> list[str]:
    """The card's Markdown body as lines, one section after another."""
    return [
        *_intro_section(m),
        *_backbone_section(m),
        *_made_section(m),
        *_metrics_section(m),
        *_members_section(m, source_repos),
        *_lineage_section(m, source_repos),
        *_usage_section(m, repo_id),
        *_files_section(files),
    ]


def _intro_section(m: Manifest) -> list[str]:
    """The title, what the prompt (or ensemble) is, and the manifest's description."""
    b, g = m.backbone, m.geometry
    out = [f"# {m.name} (version {m.version})", ""]
    task = f", tuned for the task `{_cell(m.task)}`" if m.task else ""
    if m.ensemble is not None:
        k = m.ensemble.k
        out += [
            f"An ensemble of {k} prompts: {k} {g.mode} visual prompts (each {g.layers} x {g.length} tokens of width "
            f"{g.width}) for the frozen timm Vision Transformer `{b.timm_name}`{task}. Each member's pooled features "
            "are standardized with that member's statistics and mixed with the weights alpha; a linear head reads "
            f"the mixture. Inference costs {k} forwards per image (one per member, run as one batched forward). "
            "Visual prompt tuning (VPT, Jia et al. 2022) learns the prompt tokens while every backbone weight stays "
            "frozen; the ensemble only works with the backbone it was tuned on. Made and published with "
            f"[promptkit](https://pypi.org/project/promptkit/) {m.promptkit_version}.",
            "",
        ]
    else:
        kind = "composed visual prompt" if m.lineage and m.lineage.sources else "visual prompt"
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
    return out


def _backbone_section(m: Manifest) -> list[str]:
    """The ``## Backbone`` section: the timm name, pretrained tag, Hub id and weights digest."""
    b = m.backbone
    out = ["## Backbone", "", "| field | value |", "|---|---|", f"| timm name | `{_cell(b.timm_name)}` |"]
    if b.pretrained_tag:
        out.append(f"| pretrained tag | `{_cell(b.pretrained_tag)}` |")
    if b.hub_id:
        out.append(f"| Hub id | [{_cell(b.hub_id)}](https://huggingface.co/{_cell(b.hub_id)}) |")
    out += [f"| weights sha256 | `{b.weights_sha256}` |", ""]
    return out


def _made_section(m: Manifest) -> list[str]:
    """The ``## How it was made`` section: init, data, head, seed, digests; training and composition JSON."""
    out = ["## How it was made", "", "| field | value |", "|---|---|", f"| init | `{_cell(m.init)}` |"]
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
    return out


def _accuracies(metrics: Mapping[str, float]) -> list[tuple[str | None, float]]:
    """``(split, value)`` of the accuracies among ``metrics`` (``test_acc`` -> ``test``; ``acc@1`` -> no split).

    Timings, losses, epochs and other numbers stay out of the model index (they are in the body).
    """
    out: list[tuple[str | None, float]] = []
    for key, value in metrics.items():
        if key.endswith("_acc"):
            out.append((key[: -len("_acc")], value))
        elif key.startswith("acc"):
            out.append((None, value))
    return out


def _metrics_section(m: Manifest) -> list[str]:
    """The ``## Metrics`` section: a table of the recorded metrics, or a line saying there are none."""
    out = ["## Metrics", ""]
    if m.metrics:
        out += ["| metric | value |", "|---|---|"]
        out += [f"| {_cell(k)} | {v:.4f} |" for k, v in m.metrics.items()]
    else:
        out.append("No metrics were recorded.")
    out.append("")
    return out


def _members_section(m: Manifest, source_repos: Mapping[str, str]) -> list[str]:
    """The ``## Members`` section of an ensemble: each member's source, Hub repo, task and weight (or none)."""
    if m.ensemble is None:
        return []
    e = m.ensemble
    alpha = "learned with the members" if e.learned_alpha else "fixed while the members were tuned"
    out = [
        "## Members", "",
        f"Composition `{_cell(e.composition)}`, {e.k} members, weights alpha {alpha}; the head reads "
        + ("their standardized features side by side, each scaled by sqrt(alpha)" if e.features == "stack"
           else "the alpha-mixture of their standardized features") + ". Each member started from "
        "the source version named here and was tuned as part of the ensemble:", "",
        "| member | started from | Hub repo | task | weight | source sha256 |", "|---|---|---|---|---|---|",
    ]
    for j, member in enumerate(e.members):
        repo = source_repos.get(member.ref)
        repo_cell = f"[{_cell(repo)}](https://huggingface.co/{_cell(repo)})" if repo else "local only"
        out.append(f"| {j} | `{_cell(member.ref)}` | {repo_cell} | {_cell(member.task or '')} | "
                   f"{member.weight:.4f} | `{member.sha256[:12]}` |")
    out.append("")
    return out


def _lineage_section(m: Manifest, source_repos: Mapping[str, str]) -> list[str]:
    """The ``## Lineage`` section of a composed prompt: its sources, Hub repos and weights (or none)."""
    if not (m.lineage and m.lineage.sources):
        return []
    out = [
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
    return out


def _usage_section(m: Manifest, repo_id: str) -> list[str]:
    """The ``## Usage`` section: pull the version from ``repo_id``, then load it by its content digest."""
    return [
        "## Usage", "",
        "Pull it into your local registry (the download is validated: schema, digests, tensor values):", "",
        *_code(f"pip install promptkit\npromptkit pull {repo_id}@v{m.version}", "bash"), "",
        "then load it by its content digest, whatever local version number it gets:", "",
        *_code(_load_snippet(m), "python"),
        "",
    ]


def _files_section(files: Mapping[str, str]) -> list[str]:
    """The ``## Files`` section: each file in the repo and what it holds (none without files)."""
    if not files:
        return []
    return ["## Files", "", *(f"- `{name}`: {what}" for name, what in files.items()), ""]


def _load_snippet(m: Manifest) -> str:
    g = m.geometry
    load = f'from promptkit.registry import Registry\n\nasset = Registry().load("{m.name}@sha256:{m.sha256[:16]}")\n'
    if m.ensemble is None:
        return load + f"asset.prompt  # tensor of shape ({g.layers}, {g.length}, {g.width})"
    k = m.ensemble.k
    return (
        load + f"asset.members  # tensor of shape ({k}, {g.layers}, {g.length}, {g.width})\n"
        "mean, std = asset.member_stats\n\n"
        "import torch\n"
        "from promptkit.backbone import backbone_for\n"
        "from promptkit.prompted_ensemble import PromptedEnsemble\n\n"
        "weight, bias = asset.head\n"
        "model = PromptedEnsemble(backbone_for(asset.manifest.backbone), asset.members, asset.alpha, mean, std,\n"
        f'                         mode="{g.mode}", combine="{m.ensemble.features}")\n'
        "model.head = torch.nn.Linear(weight.shape[1], weight.shape[0])\n"
        "model.head.load_state_dict({\"weight\": weight, \"bias\": bias})\n"
        "logits = model(images)  # (B, C)"
    )


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
