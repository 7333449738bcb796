"""Where the engine keeps its files, for the commands that read them
(``status``, ``report``): ``--data-dir``, else the config's ``data_dir``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--config", default=None, help="the engine's config (default: config.yaml)")
    ap.add_argument("--data-dir", type=Path, default=None, help="default: the config's data_dir")


def config_of(args: argparse.Namespace) -> Any:
    """The config named by ``--config`` (or ./config.yaml if present), else None."""
    from live.config import load_config

    path = args.config or ("config.yaml" if Path("config.yaml").exists() else None)
    return load_config(path) if path else None


def data_dir_of(args: argparse.Namespace, cfg: Any = None) -> Path:
    if args.data_dir is not None:
        return args.data_dir
    cfg = cfg if cfg is not None else config_of(args)
    return cfg.data_dir if cfg is not None else Path("./data")
