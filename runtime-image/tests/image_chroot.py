"""Runs the CPU image's entrypoint in its root filesystem as a render pod does, without a container runtime.

    unshare --mount --fork -- python3 image_chroot.py LOWERDIR CONFIG SCRATCH [--bind HOST[:TARGET]]
        [--bind-ro HOST[:TARGET]] [--command] -- ARG...

LOWERDIR is the image's layers unpacked by `node test/cluster/oci-image.ts DEF --unpack` (an overlayfs lowerdir,
top layer first); CONFIG the image definition, whose Entrypoint, Env, User and WorkingDir apply; SCRATCH an empty
directory for the overlay's mount point. As in the pod: the root filesystem is read-only, /tmp is an empty tmpfs,
the process runs as the image's user with the image's Env plus the caller's LV_* variables, and each --bind
(read-write) or --bind-ro host directory appears at the same path, or at TARGET when given as HOST:TARGET (the
workspace, the model cache at /models). With --command,
ARG... is the whole command (the pod's `command`) instead of the entrypoint's arguments. Needs root, in a mount
namespace of its own (unshare) so every mount ends with the process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def inside(root: Path, path: str) -> Path:
    return root / Path(path).resolve().relative_to("/")


def find(root: Path, name: str, env: dict[str, str]) -> str:
    if "/" in name:
        return name
    for directory in env.get("PATH", "/usr/bin:/bin").split(":"):
        if (inside(root, directory) / name).exists():
            return f"{directory}/{name}"
    raise SystemExit(f"image_chroot: {name} is not on the image's PATH")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lowerdir")
    parser.add_argument("config", type=Path)
    parser.add_argument("scratch", type=Path)
    parser.add_argument("--bind", action="append", default=[])
    parser.add_argument("--bind-ro", action="append", default=[])
    parser.add_argument("--command", action="store_true")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    opts, args = parser.parse_args(argv[:split]), argv[split + 1 :]
    config = json.loads(opts.config.read_text())["config"]

    mount("--make-rprivate", "/")
    mount("-t", "tmpfs", "-o", "mode=0755", "scratch", str(opts.scratch))
    upper, work, root = (opts.scratch / name for name in ("upper", "work", "root"))
    for d in (upper, work, root):
        d.mkdir()
    mount("-t", "overlay", "-o", f"lowerdir={opts.lowerdir},upperdir={upper},workdir={work}", "image", str(root))
    binds = [(p, False) for p in opts.bind] + [(p, True) for p in opts.bind_ro]
    # Mount points outside /tmp are made in the overlay before it turns read-only; those inside, in the tmpfs.
    # HOST[:TARGET]: a host directory at the same path, or at TARGET (e.g. the model cache at /models).
    binds = [(*(spec.split(":", 1) if ":" in spec else (spec, spec)), ro) for spec, ro in binds]
    for _, path, _ in binds:
        if not Path(path).resolve().is_relative_to("/tmp"):
            inside(root, path).mkdir(parents=True, exist_ok=True)
    mount("-o", "remount,ro", str(root))
    mount("-t", "tmpfs", "-o", "mode=1777", "tmp", str(root / "tmp"))
    mount("--rbind", "/dev", str(root / "dev"))
    mount("-t", "proc", "proc", str(root / "proc"))
    for source, path, read_only in binds:
        target = inside(root, path)
        target.mkdir(parents=True, exist_ok=True)
        mount("--bind", source, str(target))
        if read_only:
            mount("-o", "remount,bind,ro", str(target))

    # The kubelet's HOME for a user the image's /etc/passwd does not name.
    env = {"HOME": "/", **dict(entry.split("=", 1) for entry in config.get("Env", []))}
    env.update({k: v for k, v in os.environ.items() if k.startswith("LV_")})
    argv = args if opts.command else [*config.get("Entrypoint", []), *args]
    program = find(root, argv[0], env)
    uid, _, gid = config.get("User", "0:0").partition(":")
    os.chroot(root)
    os.chdir(config.get("WorkingDir", "/"))
    os.setgroups([])
    os.setgid(int(gid or uid))
    os.setuid(int(uid))
    os.execve(program, argv, env)


if __name__ == "__main__":
    main()
