"""`python -m manifest build`: build the Teams app package from environment variables, flags overriding them."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from manifest.config import ENV_VARS, config_from_env
from manifest.errors import ManifestError
from manifest.package import DEFAULT_OUT, build_package

FLAGS = {  # flag -> config field; each flag overrides the environment variable named in its help
    "--app-id": "teams_app_id",
    "--bot-id": "bot_id",
    "--public-url": "public_url",
    "--sso-client-id": "sso_client_id",
    "--version": "version",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m manifest", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the Teams app package (manifest.json, color.png, outline.png)")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"zip to write (default {DEFAULT_OUT})")
    for flag, field in FLAGS.items():
        build.add_argument(flag, dest=field, metavar=ENV_VARS[field], help=f"overrides ${ENV_VARS[field]}"
                           + (" (default: the version in pyproject.toml)" if field == "version" else ""))
    build.add_argument("--allow-http", action="store_true", default=None,
                       help="accept an http:// PUBLIC_URL (only for the local Agents Playground)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    overrides = {field: getattr(args, field) for field in FLAGS.values()}
    config = config_from_env(**overrides, allow_http=args.allow_http)
    try:
        out = build_package(config, args.out)
    except ManifestError as exc:
        print(f"Teams app package not built, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
