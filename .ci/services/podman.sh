# Podman and buildah from Debian, for `make image` (.ci/run builds, runs and smoke-tests the
# serving image after the tests). No docker engine, no registry: the base is a local stand-in
# made with debootstrap (cached by tag), and podman runs as root with runc (crun cannot set
# resource limits on these machines; see mlapp.image.engine for the lowered ulimits).
# Sourced by .ci/run with `set -euo pipefail`; idempotent; exports:
#   MLAPP_IMAGE_ENGINE  the engine `make image` uses (podman here; docker where `docker info` answers)
mlapp_podman_packages=(podman buildah runc fuse-overlayfs debootstrap uidmap slirp4netns)
mlapp_podman_missing=()
for pkg in "${mlapp_podman_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || mlapp_podman_missing+=("$pkg")
done
if [ "${#mlapp_podman_missing[@]}" -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${mlapp_podman_missing[@]}"  # with recommends (catatonit, dbus-user-session)
fi
if docker info >/dev/null 2>&1; then
  export MLAPP_IMAGE_ENGINE=docker
else
  podman --runtime runc info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}'
  export MLAPP_IMAGE_ENGINE=podman
fi
echo "image engine: $MLAPP_IMAGE_ENGINE"
