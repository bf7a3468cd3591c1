"""The per-file half of benches/limits.sh: for each pipeline file given, its jobs (top-level
keys that are no hidden job nor a global keyword), the most `needs` of one of them (through
`extends`), and its bytes, compared with GitLab's limits. Prints a Markdown table, one row per
directory (`<images>/build`, `…/check`, `…/rebuild`) with the largest figures of its files,
then every file over a limit, and exits 1 when there is one.

    python3 limits.py MAX_JOBS MAX_YAML_BYTES MAX_NEEDS FILE…

Needs ruamel.yaml (a dependency of check-jsonschema, so its Python has it)."""

import os
import sys

from ruamel.yaml import YAML

GLOBAL_KEYWORDS = {"stages", "workflow", "variables", "default", "include", "spec", "image",
                   "services", "cache", "before_script", "after_script"}


def needs_of(pipeline, name, seen=()):
    """The `needs` of job `name`: its own, or those of the first job it extends that has some."""
    job = pipeline.get(name) or {}
    if "needs" in job:
        return job["needs"] or []
    extends = job.get("extends") or []
    if isinstance(extends, str):
        extends = [extends]
    # GitLab merges `extends` in order, the last one winning.
    for parent in reversed(extends):
        if parent not in seen:
            found = needs_of(pipeline, parent, seen + (name,))
            if found:
                return found
    return []


def main():
    max_jobs, max_bytes, max_needs = (int(a) for a in sys.argv[1:4])
    yaml = YAML(typ="safe", pure=False)
    # One row per directory (a size and a kind of pipeline): its files, and the largest figures.
    rows = {}
    problems = []
    for path in sys.argv[4:]:
        with open(path) as f:
            pipeline = yaml.load(f)
        jobs = [k for k in pipeline if not str(k).startswith(".") and k not in GLOBAL_KEYWORDS]
        most, most_job = max(((len(needs_of(pipeline, job)), job) for job in jobs),
                             default=(0, "-"))
        size = os.path.getsize(path)
        if len(jobs) > max_jobs:
            problems.append(f"{path}: {len(jobs)} jobs > {max_jobs}")
        if most > max_needs:
            problems.append(f"{path}: `{most_job}` has {most} needs > {max_needs}")
        if size > max_bytes:
            problems.append(f"{path}: {size} bytes > {max_bytes}")
        row = rows.setdefault(os.path.dirname(path), [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] = max(row[1], len(jobs))
        row[2] = max(row[2], most)
        row[3] = max(row[3], size)
        row[4] += size
    print(f"| {'images/pipelines':<17} | files | most jobs | most needs | largest file | all files |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (files, jobs, needs, largest, total) in rows.items():
        print(f"| {name:<17} | {files:>5} | {jobs:>9} | {needs:>10} | {largest:>12,} | {total:>10,} |")
    for problem in problems:
        print(f"OVER A LIMIT: {problem}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
