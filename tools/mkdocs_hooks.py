"""mkdocs hook: publish the committed benchmark plots (benchmarks/results/*.png) as figures/*.png,
so the chapters show the same files the benchmarks wrote, without a copy in docs/."""

from pathlib import Path

from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def on_files(files, config):
    for png in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, f"figures/{png.name}", abs_src_path=str(png)))
    return files
