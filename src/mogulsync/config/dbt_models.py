"""Resolve every ``dbt:`` model of a loaded config through the dbt manifest (read once)."""

from __future__ import annotations

from mogulsync.config.dbt import DbtManifestError, find_model, load_manifest, resolve_model
from mogulsync.config.models import AppConfig


def resolve_dbt_models(config: AppConfig) -> tuple[AppConfig, list[str]]:
    """The config with ``dbt:`` models pointing at their relations, and any problems."""
    wanted = {name: model for name, model in config.models.items() if model.dbt is not None}
    if not wanted or config.dbt is None:
        return config, []
    try:
        manifest = load_manifest(config.dbt)
    except DbtManifestError as exc:
        return config, [f"dbt.project_dir: {exc}"]
    models = dict(config.models)
    problems: list[str] = []
    for name, model in wanted.items():
        assert model.dbt is not None  # selected above
        try:
            node = find_model(manifest, config.dbt, model.dbt)
            models[name] = resolve_model(model, node, f"models.{name}")
        except DbtManifestError as exc:
            text = str(exc)
            problems.append(text if text.startswith("models.") else f"models.{name}.dbt: {text}")
    return config.model_copy(update={"models": models}), problems
