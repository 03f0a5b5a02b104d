"""Command-line flags for flat config values, as minillm.utils.configs.add_config_arguments defines them."""


def cli_flags(values: dict) -> list[str]:
    """``{"n_layer": 2, "progress": False}`` -> ``["--n-layer=2", "--no-progress"]`` (booleans are on/off flags)."""
    flags = []
    for name, value in values.items():
        flag = name.replace("_", "-")
        flags.append(f"--{flag}" if value is True else f"--no-{flag}" if value is False else f"--{flag}={value}")
    return flags
