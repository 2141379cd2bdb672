"""The container engine `make image` drives: docker where a docker engine answers, else podman.

GitHub runners have a docker engine (BuildKit). A Debian machine without one uses Debian's
podman/buildah as root; there crun cannot set resource limits and the inherited limits are
higher than a container may ask for, so every podman call uses runc and lowered ulimits.
Both engines take the same build and run arguments otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mlapp import proc
from mlapp.errors import UserError

EPOCH_ARG = "SOURCE_DATE_EPOCH"  # the build argument that makes a build reproducible
Ports = tuple[tuple[int, int], ...]  # (host port on 127.0.0.1, container port) pairs
PODMAN_GLOBAL = ("--runtime", "runc")
# Lowered limits: runc fails to apply the host's (higher) defaults inside a container here.
PODMAN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


@dataclass(frozen=True)
class Engine:
    name: str  # "docker" | "podman"

    def argv(self, *args: str | Path) -> list[str | Path]:
        prefix: tuple[str, ...] = PODMAN_GLOBAL if self.name == "podman" else ()
        return [self.name, *prefix, *args]

    def limits(self) -> tuple[str, ...]:
        return PODMAN_LIMITS if self.name == "podman" else ()

    def image_exists(self, ref: str) -> bool:
        done = proc.run(self.argv("image", "inspect", "--format", "{{.Id}}", ref), check=False)
        return done.returncode == 0

    def image_size(self, ref: str) -> int:
        """Uncompressed size in bytes, the number `docker images` / `podman images` show."""
        return int(proc.output(self.argv("image", "inspect", "--format", "{{.Size}}", ref)))

    def image_id(self, ref: str) -> str:
        return proc.output(self.argv("image", "inspect", "--format", "{{.Id}}", ref))

    def build_argv(
        self, context: Path, tag: str, build_args: dict[str, str], secrets: dict[str, Path]
    ) -> list[str | Path]:
        args: list[str | Path] = ["build", "--tag", tag, "--file", context / "Dockerfile"]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        for key, path in secrets.items():
            args += ["--secret", f"id={key},src={path}"]
        if self.name == "podman":
            # No registry to pull from: the base must be local. Host network: the build's
            # downloads go through this machine's own resolver and proxy settings.
            args += ["--pull=never", "--network", "host", *self.limits()]
            # buildah 1.28 reads no SOURCE_DATE_EPOCH: --timestamp sets the image's created time
            # and every file time in the layers it writes (docker: BuildKit takes the build arg).
            if epoch := build_args.get(EPOCH_ARG):
                args += ["--timestamp", epoch]
        return self.argv(*args, context)

    def build(self, context: Path, tag: str, build_args: dict[str, str], secrets: dict[str, Path]) -> None:
        # Build output streams to the terminal: minutes of silence would look like a hang.
        argv = self.build_argv(context, tag, build_args, secrets)
        proc.run(argv, env={"DOCKER_BUILDKIT": "1"}, capture=False)

    def run_argv(
        self,
        ref: str,
        name: str,
        ports: Ports,
        env: dict[str, str],
        tmpfs: tuple[str, ...],
        options: tuple[str, ...] = (),
    ) -> list[str | Path]:
        """Start ``ref`` with each (host port on 127.0.0.1, container port) of ``ports`` published,
        root filesystem read-only and only ``tmpfs`` writable (what the Kubernetes manifests do),
        with ``options`` (resource limits)."""
        args: list[str | Path] = ["run", "--detach", "--name", name, *self.limits(), *options]
        for host_port, container_port in ports:
            args += ["--publish", f"127.0.0.1:{host_port}:{container_port}"]
        # podman's --read-only also mounts tmpfs on /tmp, /var/tmp and /run, which a cluster does not
        # (docker's does not either): only the volumes below are writable, as in infra/base.
        args += ["--read-only", "--read-only-tmpfs=false"] if self.name == "podman" else ["--read-only"]
        # No capability and no privilege gain (setuid su, mount in the base), as infra/base's
        # securityContext: an image that needed either would fail here, not first in the cluster.
        args += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for path in tmpfs:
            args += ["--tmpfs", f"{path}:rw,mode=1777"]
        for key, value in sorted(env.items()):
            args += ["--env", f"{key}={value}"]
        return self.argv(*args, ref)

    def run_detached(
        self,
        ref: str,
        name: str,
        ports: Ports,
        env: dict[str, str],
        tmpfs: tuple[str, ...],
        options: tuple[str, ...] = (),
    ) -> None:
        proc.run(self.run_argv(ref, name, ports, env, tmpfs, options))

    def run_once(self, ref: str, entrypoint: str, *args: str, workdir: str | None = None) -> str:
        """Run ``entrypoint args`` in a throw-away container of ``ref`` without network; its stdout."""
        options = ["--workdir", workdir] if workdir else []
        argv = self.argv("run", "--rm", *self.limits(), "--network", "none", *options)
        return proc.output([*argv, "--entrypoint", entrypoint, ref, *args])

    def running(self, name: str) -> bool:
        state = self.argv("container", "inspect", "--format", "{{.State.Running}}", name)
        done = proc.run(state, check=False)
        return done.returncode == 0 and done.stdout.strip() == "true"

    def signal(self, name: str, signal: str) -> None:
        proc.run(self.argv("kill", "--signal", signal, name))

    def wait(self, name: str, timeout_s: float) -> int | None:
        """The container's exit code once it has exited; None while it still runs after ``timeout_s``."""
        try:
            return int(proc.output(self.argv("wait", name), timeout=timeout_s))
        except proc.CommandTimeout:
            return None

    def oom_killed(self, name: str) -> bool:
        state = self.argv("container", "inspect", "--format", "{{.State.OOMKilled}}", name)
        done = proc.run(state, check=False)
        return done.stdout.strip() == "true"

    def logs(self, name: str, tail: int = 60) -> str:
        done = proc.run(self.argv("logs", "--tail", str(tail), name), check=False)
        return (done.stdout or "") + (done.stderr or "")

    def remove(self, name: str) -> None:
        proc.run(self.argv("rm", "--force", name), check=False)

    def import_rootfs(self, tarball: Path, tag: str) -> None:
        proc.run(self.argv("import", tarball, tag))

    def push(self, local: str, target: str) -> str:
        """Tag ``local`` as ``target`` (name:tag), push it; ``name@sha256:...`` as the registry stored it."""
        proc.run(self.argv("tag", local, target))
        proc.run(self.argv("push", target), timeout=600)
        name = target.rsplit(":", 1)[0]
        digests = json.loads(proc.output(self.argv("inspect", "--format", "{{json .RepoDigests}}", target)))
        if found := [d for d in digests or [] if d.startswith(f"{name}@")]:
            return str(found[0])
        raise UserError(f"{self.name} knows no digest of {target} in {name} after the push")


def docker_answers() -> bool:
    """`docker info` succeeds: a client AND a running engine (a bare client is not enough)."""
    try:
        return proc.run(["docker", "info"], check=False, timeout=30).returncode == 0
    except (proc.CommandNotFound, proc.CommandTimeout):
        return False


def detect(choice: str = "auto") -> Engine:
    """docker when its engine answers, else podman; ``choice`` forces one."""
    if choice != "auto":
        return Engine(choice)
    if docker_answers():
        return Engine("docker")
    try:
        proc.run(["podman", "--version"])
    except proc.CommandNotFound:
        raise UserError(
            "no container engine: neither `docker info` answers nor podman is installed "
            "(Debian: apt-get install podman buildah runc fuse-overlayfs)"
        ) from None
    return Engine("podman")
