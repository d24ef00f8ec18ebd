"""The Teams app package: `python -m manifest build` writes build/appPackage.zip from the template in this folder,
the bot's command catalog and configuration from environment variables (see config.ENV_VARS)."""
from manifest.config import ENV_VARS, ManifestConfig, config_from_env, default_version
from manifest.errors import ManifestError, Problem
from manifest.package import DEFAULT_OUT, build_manifest, build_package
from manifest.render import command_lists

__all__ = ["DEFAULT_OUT", "ENV_VARS", "ManifestConfig", "ManifestError", "Problem", "build_manifest",
           "build_package", "command_lists", "config_from_env", "default_version"]
