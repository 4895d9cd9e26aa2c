"""Hub commands: push a version to a Hugging Face Hub repo, pull one back into the registry."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ._errors import handle_errors
from ._options import JsonOpt, QuietOpt, RegistryOpt, open_registry
from ._output import out_console, print_json

__all__ = ["register"]


@handle_errors
def push(
    ref: Annotated[str, typer.Argument(help="The version to publish: name, name:3, name@alias or name@sha256:<hex>.")],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Hub repo, namespace/name (created if missing).")],
    private: Annotated[bool, typer.Option("--private", help="Create the repo as private.")] = False,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Branch to commit to (created from main if missing).")
    ] = None,
    create_pr: Annotated[bool, typer.Option("--create-pr", help="Open a pull request against main instead.")] = False,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Publish a prompt version to the Hugging Face Hub: file, manifest and model card in one commit, tagged vN.

    Uses HF_TOKEN or the stored login (`hf auth login`) and honours HF_ENDPOINT. Each Hub request
    waits at most PROMPTKIT_HUB_TIMEOUT seconds (30).
    """
    from promptkit.registry.hub import push as push_version

    result = push_version(
        open_registry(registry), ref, repo_id=repo_id, private=private, revision=revision, create_pr=create_pr,
        message=message,
    )
    if json_out:
        print_json({
            "ref": result.manifest.ref, "sha256": result.manifest.sha256, "repo_id": result.repo_id,
            "url": result.url, "revision": result.revision, "commit_sha": result.commit_sha,
            "commit_url": result.commit_url, "pr_url": result.pr_url, "tag": result.tag, "files": list(result.files),
        })
        return
    console = out_console()
    if quiet:  # the commit (or pull request) URL, for scripts
        console.print(result.pr_url or result.commit_url or result.url, highlight=False)
        return
    if create_pr:
        if result.pr_url:
            console.print(f"opened pull request {result.pr_url} with {result.manifest.ref}", highlight=False)
        else:
            console.print(f"no pull request opened: {result.repo_id} main already holds these files", highlight=False)
        return
    where = f"{result.revision} @ {result.commit_sha[:12]}"
    console.print(f"pushed {result.manifest.ref} to {result.url} ({where}, tag {result.tag})", highlight=False)


@handle_errors
def pull(
    spec: Annotated[str, typer.Argument(help="namespace/name, optionally @branch, @tag (e.g. @v3) or @commit.")],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Local name [default: the repo id, namespace/name].")
    ] = None,
    take_over: Annotated[
        bool, typer.Option("--take-over", help="Add to a local name whose versions did not all come from this repo.")
    ] = False,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Download a prompt from the Hub, validate it, and store it as a new local version.

    Uses HF_TOKEN or the stored login, honours HF_ENDPOINT, and with HF_HUB_OFFLINE=1 reads only
    the Hugging Face cache. The same content pulled twice is stored once. Each Hub request waits
    at most PROMPTKIT_HUB_TIMEOUT seconds (30); a prompt file over PROMPTKIT_MAX_PROMPT_BYTES is
    refused before it is downloaded.
    """
    from promptkit.registry.hub import pull as pull_version

    result = pull_version(open_registry(registry, create=True), spec, name=name, take_over=take_over)
    if json_out:
        data = json.loads(result.manifest.model_dump_json())
        print_json(data | {
            "ref": result.manifest.ref, "kind": result.manifest.kind, "created": result.created,
            "repo_id": result.repo_id, "revision": result.revision, "commit_sha": result.commit_sha,
            "path": str(result.path),
        })
        return
    if quiet:  # the local reference, for scripts: REF=$(promptkit pull org/repo -q)
        out_console().print(result.manifest.ref, highlight=False)
        return
    where = f"{result.repo_id}@{result.revision} (commit {result.commit_sha[:12]})"
    what = f" (an ensemble of {result.manifest.num_members} prompts)" if result.manifest.kind == "ensemble" else ""
    if result.created:
        out_console().print(f"pulled {where} as {result.manifest.ref}{what}", highlight=False)
    else:
        out_console().print(f"{where} is already stored as {result.manifest.ref} (same content)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    app.command("pull")(pull)
